/**
 * Function logs (SPEC §4 `hayate.v1.logs.<fn>`, §5 `GET /v1/functions/{name}/logs`, §6 `hayate logs`)
 * through a real cluster: invokers publish, the logs stream keeps, the controller and the CLI serve.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { createInbox } from 'nats';
import { Header } from '../services/common/headers';
import type { LogEntry } from '../services/common/log-entries';
import { parseLogEntry } from '../services/common/log-entries';
import { EventsClient } from '../services/cli/events-client';
import { buildFixture } from './helpers/c-fixtures';
import { runCli } from './helpers/cli';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { waitFor } from './helpers/delivery';
import { exampleWasm, HAYATE_BIN } from './helpers/paths';

type Context = { cluster: Cluster; children: ChildProcess[] };
const test = anyTest.serial as TestFn<Context>;

/** A low rate bound, so that one flooding function goes past it at once. */
const RATE = 100;
const CHATTY_LINES = 1000;

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 1, env: { HAYATE_LOG_RATE: String(RATE), HAYATE_LOG_BURST: String(RATE) } });
  t.context = { cluster, children: [] };
  await cluster.client.deploy('quiet', readFileSync(exampleWasm('env-echo')));
  await cluster.client.deploy('chatty', buildFixture('logs', 'chatty'), { arg: [String(CHATTY_LINES)] });
});

test.after.always(async (t) => {
  for (const c of t.context.children ?? []) c.kill('SIGKILL');
  await t.context.cluster?.stop();
});

async function invoke(cluster: Cluster, fn: string): Promise<string> {
  const r = await cluster.client.invoke(fn, Buffer.from('x'));
  if (r.status !== 200) throw new Error(`${fn} answered ${r.status}`);
  return r.headers.get('Hayate-Invocation-Id') ?? '';
}

test('hayate logs -f prints the stderr lines and summaries of calls others make', async (t) => {
  const { cluster } = t.context;
  const child = spawn(process.execPath, [HAYATE_BIN, 'logs', 'quiet', '-f', '--url', cluster.http], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.context.children.push(child);
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const ids = [await invoke(cluster, 'quiet'), await invoke(cluster, 'quiet'), await invoke(cluster, 'quiet')];
  await waitFor('a stderr line and a summary per call', () => (ids.every((id) => lines.some((l) => l.includes(`${id} | stderr-line`)) && lines.some((l) => l.includes(`${id} = OK`))) ? true : undefined), 20_000, 100);
  const summary = lines.find((l) => l.includes(`${ids[0]} = OK`)) ?? '';
  t.regex(summary, /quiet .* = OK exit=0 wasm .*total=[\d.]+ms .*invoker=\S+ attempt=1/);
  child.kill('SIGTERM');

  // the same entries without -f, as JSON lines, and over HTTP
  const once = await runCli(['logs', 'quiet', '--since', '5m', '--json', '--url', cluster.http]);
  t.is(once.code, 0);
  const entries = once.stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
  for (const id of ids) {
    const mine = entries.filter((e) => e.kind !== 'dropped' && e.id === id);
    t.deepEqual(mine.map((e) => e.kind).sort(), ['stderr', 'summary']);
    const s = mine.find((e) => e.kind === 'summary');
    if (s?.kind === 'summary') {
      t.is(s.status, 'OK');
      t.is(s.tier, 'wasm');
      t.is(typeof s.timings_ms.total, 'number');
    }
  }
  const bad = await runCli(['logs', 'quiet', '--since', 'yesterday', '--url', cluster.http]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /HAYATE_ERR_INVALID_OPTION/);
});

// entries leave FLUSH_AFTER_MS after their runs, together: ahead of the answer, in a write of their own, they cost
// a call at one in flight ≈0.2 ms, and right behind it they slowed a call after idle
test('an answer leaves ahead of the log entries of its run', async (t) => {
  const { nc } = t.context.cluster;
  const order: string[] = [];
  const logs = nc.subscribe('hayate.v1.logs.quiet', {
    callback: (_err, m) => {
      const e = parseLogEntry(m.data);
      if (e?.kind === 'summary') order.push(`summary ${e.id}`);
    },
  });
  const inbox = createInbox();
  const answers = nc.subscribe(inbox, { callback: (_err, m) => order.push(`answer ${m.headers?.get(Header.invocationId) ?? '?'}`) });
  t.teardown(() => {
    logs.unsubscribe();
    answers.unsubscribe();
  });
  await nc.flush();
  const calls = 5;
  for (let i = 0; i < calls; i += 1) nc.publish('hayate.v1.call.quiet', new TextEncoder().encode('x'), { reply: inbox });
  await waitFor('every answer and summary', () => (order.length >= 2 * calls ? true : undefined), 20_000, 20);
  const ids = order.filter((o) => o.startsWith('answer ')).map((o) => o.slice('answer '.length));
  t.is(new Set(ids).size, calls, order.join(', '));
  for (const id of ids) t.true(order.indexOf(`answer ${id}`) < order.indexOf(`summary ${id}`), order.join(', '));
});

test('a function flooding stderr neither hides another function\'s entries nor loses count of what it drops', async (t) => {
  const { cluster } = t.context;
  const seen: LogEntry[] = [];
  const sub = cluster.nc.subscribe('hayate.v1.logs.>', { callback: (err, msg) => {
    const e = err === null ? parseLogEntry(msg.data) : null;
    if (e !== null) seen.push(e);
  } });
  const floods = Array.from({ length: 8 }, () => invoke(cluster, 'chatty'));
  const quiet = Array.from({ length: 20 }, () => invoke(cluster, 'quiet'));
  const quietIds = await Promise.all(quiet);
  const floodIds = await Promise.all(floods);
  t.is(new Set([...quietIds, ...floodIds]).size, 28, 'every call answered');

  await waitFor('every entry of the quiet function', () => (quietIds.every((id) => ['stderr', 'summary'].every((kind) => seen.some((e) => e.kind === kind && 'id' in e && e.id === id))) ? true : undefined), 20_000, 100);
  // every entry the flood produced (its lines and a summary per run) was either published or counted as dropped
  const produced = floodIds.length * (CHATTY_LINES + 1);
  const accounted = () => {
    const chatty = seen.filter((e) => e.fn === 'chatty');
    const dropped = chatty.reduce((n, e) => n + (e.kind === 'dropped' ? e.dropped : 0), 0);
    return { published: chatty.filter((e) => e.kind !== 'dropped').length, dropped };
  };
  const final = await waitFor('the flood to be accounted for', () => {
    const a = accounted();
    return a.published + a.dropped === produced ? a : undefined;
  }, 20_000, 100);
  sub.unsubscribe();
  t.true(final.dropped > 0, 'the rate bound dropped part of the flood');
  t.true(final.published > 0);
  t.is(seen.filter((e) => e.fn === 'quiet' && e.kind === 'dropped').length, 0, 'nothing of the quiet function was dropped');
  const http = await new EventsClient(cluster.http).logs('chatty', { since: '5m' });
  t.true(http.some((e) => e.kind === 'dropped'), 'the logs stream keeps the drop notices too');
});

test('EndOfTurn runs the sends of a turn together, after the callbacks of the turn', async (t) => {
  const { EndOfTurn } = await import('../services/common/end-of-turn');
  const outbox = new EndOfTurn();
  const order: string[] = [];
  outbox.post(() => order.push('answer 1'));
  outbox.post(() => order.push('answer 2'));
  order.push('caller');
  await new Promise((r) => setImmediate(r));
  t.deepEqual(order, ['caller', 'answer 1', 'answer 2']);
  outbox.post(() => order.push('answer 3'));
  await new Promise((r) => setImmediate(r));
  t.deepEqual(order, ['caller', 'answer 1', 'answer 2', 'answer 3'], 'a later turn schedules again');
});

test('entries wait FLUSH_AFTER_MS for the runs finished meanwhile, and a drain publishes what waits', async (t) => {
  const { LogPublisher, FLUSH_AFTER_MS } = await import('../services/invoker/log-publisher');
  const { Subjects } = await import('../services/common/subjects');
  const { nc } = t.context.cluster;
  const seen: LogEntry[] = [];
  const sub = nc.subscribe('hayate.v1.logs.flushed', { callback: (_err, m) => {
    const e = parseLogEntry(m.data);
    if (e !== null) seen.push(e);
  } });
  t.teardown(() => sub.unsubscribe());
  await nc.flush();
  const publisher = new LogPublisher(nc, new Subjects(), { logsEnabled: true, logRatePerSec: 1000, logBurst: 1000, invokerId: 'test-invoker' });
  const run = (id: string, stderr = ''): void =>
    publisher.published(
      { invocationId: id, function: 'flushed', input: new Uint8Array(0), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 },
      { invocationId: id, status: 'OK', exitCode: 0, output: new Uint8Array(0), stderr: Buffer.from(stderr), tier: 'wasm', invokerId: 'test-invoker', coldStart: false, timings: { queueUs: 1, startupUs: 2, execUs: 3, teardownUs: 4, totalUs: 10 }, errorCode: '', errorMessage: '', attempt: 1 },
    );
  run('a', 'line 1\nline 2\n');
  run('b');
  t.is(publisher.sent, 0, 'nothing leaves with the run');
  await waitFor('the first runs\' entries', () => (seen.length >= 4 ? true : undefined), 5000, FLUSH_AFTER_MS);
  t.deepEqual(seen.map((e) => `${e.kind} ${'id' in e ? e.id : ''}`), ['stderr a', 'stderr a', 'summary a', 'summary b']);
  run('c');
  run('d');
  publisher.close();
  run('e');
  await nc.flush();
  t.deepEqual(seen.slice(4).map((e) => `${e.kind} ${'id' in e ? e.id : ''}`), ['summary c', 'summary d'], 'a drain publishes what waits, and nothing after it');
});
