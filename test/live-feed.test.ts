/**
 * The operator page's live feed (`GET /v1/live`) against a real `hayate up`: one status round per second for
 * the whole controller however many pages listen, none when no page listens, calls showing in the next
 * round, tier transitions with their reasons in status, and the page's files served without data.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { waitFor } from './helpers/delivery';
import { exampleWasm } from './helpers/paths';

const test = anyTest.serial as TestFn<{ cluster: Cluster }>;

interface LiveEvent {
  event: string;
  data: Record<string, unknown>;
}

/** An open `GET /v1/live`, its events collected as they come. */
interface Stream {
  events: LiveEvent[];
  close(): void;
}

async function openLive(base: string, headers: Record<string, string> = {}): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${base}/v1/live`, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (res.status !== 200 || res.body === null) throw new Error(`GET /v1/live answered ${res.status}`);
  const events: LiveEvent[] = [];
  void (async () => {
    let buffer = '';
    try {
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.+)$/m.exec(block)?.[1] ?? '{}';
          events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return { events, close: () => abort.abort() };
}

const ticks = (s: Stream) => s.events.filter((e) => e.event === 'tick');

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 2 });
  await t.context.cluster.client.deploy('upper', readFileSync(exampleWasm('upper')));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test('live feed asks the invokers once per round however many pages listen, and not at all when none does', async (t) => {
  const { cluster } = t.context;
  let requests = 0;
  const sub = cluster.nc.subscribe('hayate.v1.status', { callback: () => (requests += 1) });
  const streams = await Promise.all(Array.from({ length: 10 }, () => openLive(cluster.http)));
  try {
    await waitFor('a first tick', () => (ticks(streams[0]!).length >= 1 ? true : undefined), 10_000);
    const before = requests;
    const ticksBefore = ticks(streams[0]!).length;
    await waitFor('five more ticks', () => (ticks(streams[0]!).length >= ticksBefore + 5 ? true : undefined), 20_000);
    await cluster.nc.flush();
    const rounds = ticks(streams[0]!).length - ticksBefore;
    // one request per round for ten pages (a round may be in flight at either end of the window)
    t.true(requests - before >= rounds - 1 && requests - before <= rounds + 1, `${requests - before} status requests for ${rounds} rounds`);
    for (const s of streams) t.is(s.events[0]?.event, 'hello');
  } finally {
    for (const s of streams) s.close();
  }
  await new Promise((r) => setTimeout(r, 1500)); // let a round in flight finish
  await cluster.nc.flush();
  const idle = requests;
  await new Promise((r) => setTimeout(r, 3000));
  await cluster.nc.flush();
  t.is(requests, idle, 'no status request while no page listens');
  sub.unsubscribe();
});

test('live feed shows calls in the next rounds with their tier, and the fleet with rates', async (t) => {
  const { cluster } = t.context;
  const stream = await openLive(cluster.http);
  try {
    await waitFor('a first tick', () => (ticks(stream).length >= 1 ? true : undefined), 10_000);
    for (let i = 0; i < 5; i += 1) t.is((await cluster.client.invoke('upper', Buffer.from('live'))).status, 200);
    const point = await waitFor('a chart point of upper', () => ticks(stream).map((e) => e.data['point'] as { fns: Record<string, { wasm?: number[] }> }).find((p) => p.fns['upper']?.wasm !== undefined), 10_000);
    const [p50, p99, rate] = point.fns['upper']!.wasm!;
    t.true(p50! > 0 && p99! >= p50!, `p50 ${p50} p99 ${p99}`);
    t.true(rate! > 0);
    const fleet = ticks(stream).at(-1)!.data['fleet'] as { invokers: { id: string; stale: boolean; functions: { name: string; transitions: { from: string; to: string; reason: string }[] }[] }[] };
    t.deepEqual(fleet.invokers.map((i) => i.id).sort(), cluster.invokers.map((i) => i.id).sort());
    t.true(fleet.invokers.every((i) => !i.stale));
    const upper = fleet.invokers.flatMap((i) => i.functions).find((f) => f.name === 'upper');
    t.deepEqual(upper?.transitions[0] && { from: upper.transitions[0].from, to: upper.transitions[0].to }, { from: 'cold', to: 'wasm' });
    t.is(upper?.transitions[0]?.reason, 'first invocation compiled the module');
  } finally {
    stream.close();
  }
});

test('live feed carries async activations as their records change', async (t) => {
  const { cluster } = t.context;
  const stream = await openLive(cluster.http);
  try {
    const queued = await cluster.client.invoke('upper', Buffer.from('later'), { async: true });
    const { id } = JSON.parse(queued.body.toString()) as { id: string };
    const done = await waitFor('the activation succeeded', () => stream.events.find((e) => e.event === 'activation' && e.data['id'] === id && e.data['state'] === 'succeeded'), 20_000);
    t.is(done.data['output'], 'LATER');
    t.is(done.data['function'], 'upper');
    t.false('output_base64' in done.data);
  } finally {
    stream.close();
  }
});

test('operator page files are served at / and /ui/ with a strict CSP, and /ui redirects', async (t) => {
  const { cluster } = t.context;
  for (const path of ['/', '/ui/']) {
    const res = await fetch(`${cluster.http}${path}`);
    t.is(res.status, 200, path);
    t.regex(res.headers.get('content-type') ?? '', /text\/html/);
    t.regex(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    t.regex(await res.text(), /<script type="module" src="\/ui\/app\.js">/);
  }
  const redirect = await fetch(`${cluster.http}/ui`, { redirect: 'manual' });
  t.is(redirect.status, 302);
  t.is(redirect.headers.get('location'), '/ui/');
  t.is((await fetch(`${cluster.http}/ui/vendor/uPlot.iife.min.js`)).status, 200);
  const config = (await (await fetch(`${cluster.http}/ui/config.json`)).json()) as { auth: boolean; logs: boolean };
  t.false(config.auth);
  t.true(config.logs, 'the logs API is there: the page turns its log tail on');
});
