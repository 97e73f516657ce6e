/**
 * `hayate up --sites 2`: a 3-server JetStream hub, a leaf-node nats-server per site, 2 invokers per site.
 * Calls made through a site's leaf are served there, by another site once the site has no invoker left,
 * and by the site alone (cached functions only) once the hub is gone. Also: invoker metrics and the
 * invocation id in controller and invoker logs. Runs in order: later tests kill what earlier ones need.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { HttpClient } from '../services/cli/http-client';
import { InvocationClient } from '../services/common/invocation-client';
import { exampleWasm } from './helpers/paths';
import type { SitesCluster } from './helpers/sites';
import { killHard } from './helpers/process';
import { startSites } from './helpers/sites';

let cluster: SitesCluster;
const connections: NatsConnection[] = [];
const clients: InvocationClient[] = [];

async function clientAt(url: string): Promise<InvocationClient> {
  const nc = await connect({ servers: url });
  connections.push(nc);
  const client = new InvocationClient(nc, { deadAfterMs: 1000 });
  clients.push(client);
  return client;
}

const site = (name: 'site-a' | 'site-b') => cluster.sites.find((s) => s.name === name)!;

test.before(async () => {
  cluster = await startSites({ sites: 2, invokers: 2, env: { HAYATE_CONTAINERS: 'off', HAYATE_WORKERS: '1', HAYATE_METRICS_PORT: '0', HAYATE_LOG_LEVEL: 'debug' } });
  const http = new HttpClient(cluster.http);
  await http.deploy('upper', readFileSync(exampleWasm('upper')), { policy: 'wasm' });
});

test.after.always(async () => {
  for (const c of clients) c.close();
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await cluster?.stop();
});

test.serial('hayate up --sites writes the hub, each site and its invokers when it is ready', (t) => {
  t.is(cluster.hub.servers.length, 3);
  t.is(cluster.hub.domain, 'hub');
  t.deepEqual(cluster.sites.map((s) => s.name), ['site-a', 'site-b']);
  for (const s of cluster.sites) {
    t.regex(s.nats, /^nats:\/\/127\.0\.0\.1:\d+$/);
    t.deepEqual(s.invokers.map((i) => i.id), [`invoker-${s.name}-1`, `invoker-${s.name}-2`]);
  }
  t.is(cluster.invokers.length, 4);
});

test.serial('JetStream buckets are replicated on 3 hub servers when deployed through the controller', async (t) => {
  const nc = await connect({ servers: cluster.nats });
  connections.push(nc);
  const jsm = await nc.jetstreamManager({ domain: cluster.hub.domain });
  for (const stream of ['KV_hayate_functions', 'OBJ_hayate_modules']) {
    const info = await jsm.streams.info(stream);
    t.is(info.config.num_replicas, 3, stream);
    t.is((info.cluster?.replicas?.length ?? 0) + 1, 3, `${stream} has a leader and 2 replicas`);
  }
});

test.serial('a site serves every call made through its leaf with its own invokers when it has some', async (t) => {
  const client = await clientAt(site('site-a').nats);
  for (let i = 0; i < 30; i += 1) {
    const { response } = await client.call({ function: 'upper', input: Buffer.from(`call ${i}`) });
    t.is(response.status, 'OK');
    t.is(Buffer.from(response.output).toString(), `CALL ${i}`);
    t.regex(response.invokerId, /^invoker-site-a-\d$/);
  }
  // raw calls (SPEC §4) name the invoker in a reply header
  const nc = await connect({ servers: site('site-a').nats });
  connections.push(nc);
  const reply = await nc.request('hayate.v1.call.upper', Buffer.from('raw'), { timeout: 10_000 });
  t.is(Buffer.from(reply.data).toString(), 'RAW');
  t.regex(reply.headers?.get('Hayate-Invoker') ?? '', /^invoker-site-a-\d$/);
});

test.serial('invoker metrics count invocations by function, tier and status when scraped', async (t) => {
  const urls = site('site-a').invokers.map((i) => i.metrics);
  t.true(urls.every((u) => typeof u === 'string' && u.startsWith('http://127.0.0.1:')), `metrics URLs ${JSON.stringify(urls)}`);
  let ok = 0;
  for (const url of urls) {
    const text = await (await fetch(`${url!}/metrics`)).text();
    const count = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const invocations = count(/^hayate_invoker_invocations_total\{function="upper",tier="wasm",status="OK",invoker="invoker-site-a-\d",site="site-a"\} (\d+)$/m);
    ok += invocations;
    t.is(count(/^hayate_invoker_step_seconds_count\{[^}]*step="exec",tier="wasm"\} (\d+)$/m), invocations, 'one exec observation per invocation that ran');
    t.regex(text, /^hayate_invoker_pending\{[^}]*\} 0$/m);
    // how many of them ran on the event-loop thread depends on the machine's load (a preempted run may pass its host deadline)
    t.regex(text, /^hayate_invoker_inline_runs_total\{[^}]*\} \d+$/m);
    t.regex(text, /^hayate_invoker_inline_overruns_total\{[^}]*\} \d+$/m);
    if (invocations > 0) t.regex(text, /^hayate_invoker_tier_transitions_total\{function="upper",from="cold",to="wasm"[^}]*\} 1$/m);
  }
  // 30 calls and 1 raw call, all at site A
  t.is(ok, 31);
});

test.serial('controller and invoker log an HTTP invocation under one invocation id when logging at debug', async (t) => {
  const http = new HttpClient(cluster.http);
  const r = await http.invoke('upper', Buffer.from('trace me'), { args: [], async: false });
  t.is(r.status, 200);
  const id = r.headers.get('hayate-invocation-id');
  t.is(typeof id, 'string');
  const lines = (): { name?: string; msg?: string; invocationId?: string }[] =>
    cluster.logs.filter((l) => l.startsWith('{') && l.includes(String(id))).map((l) => JSON.parse(l) as { name?: string; msg?: string; invocationId?: string });
  // the invoker's line is written before the answer, the controller's right after it: wait for both to be flushed
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !(lines().some((l) => l.name === 'controller' && l.msg === 'invoked') && lines().some((l) => l.name === 'invoker'))) await sleep(50);
  const found = lines();
  t.true(found.some((l) => l.name === 'controller' && l.msg === 'invoke received' && l.invocationId === id), 'controller logs the request under its id');
  t.true(found.some((l) => l.name === 'controller' && l.msg === 'invoked' && l.invocationId === id), 'controller logs the answer under its id');
  t.true(found.some((l) => l.name === 'invoker' && l.msg === 'invocation finished' && l.invocationId === id), 'invoker logs the run under its id');
});

test.serial('another site serves every call made through a leaf with none failed when all its site invokers are SIGKILLed', async (t) => {
  const client = await clientAt(site('site-a').nats);
  const served: { invoker: string; attempts: number }[] = [];
  const failures: string[] = [];
  let killed = false;
  let afterKill = 0;
  // calls keep flowing from 4 lanes while site A's invokers die under them
  const lane = async (lane: number): Promise<void> => {
    for (let i = 0; afterKill < 40; i += 1) {
      const input = `lane ${lane} call ${i}`;
      try {
        const { response, attempts } = await client.call({ function: 'upper', input: Buffer.from(input) });
        if (response.status !== 'OK' || Buffer.from(response.output).toString() !== input.toUpperCase()) failures.push(`${input}: ${response.status} ${response.errorMessage}`);
        served.push({ invoker: response.invokerId, attempts });
        if (killed) afterKill += 1;
      } catch (err: unknown) {
        failures.push(`${input}: ${err instanceof Error ? err.message : String(err)}`);
        if (killed) afterKill += 1;
      }
    }
  };
  const lanes = [0, 1, 2, 3].map(lane);
  while (served.length < 20) await sleep(10);
  await Promise.all(site('site-a').invokers.map((i) => killHard(i.pid)));
  const servedBeforeKill = served.length;
  killed = true;
  await Promise.all(lanes);
  t.deepEqual(failures, [], 'no call failed');
  t.true(served.slice(0, 20).every((s) => s.invoker.startsWith('invoker-site-a-')), 'site A served while it had invokers');
  const last = served.slice(-30);
  t.true(last.every((s) => s.invoker.startsWith('invoker-site-b-')), `site B serves after site A's invokers died: ${JSON.stringify(last.map((s) => s.invoker))}`);
  t.log(`${servedBeforeKill} calls before the kill, ${served.length - servedBeforeKill} after; re-sent: ${served.filter((s) => s.attempts > 1).length}`);
});

test.serial('a site cut off from the hub serves its cached functions and says why it cannot serve others when every hub server is killed', async (t) => {
  const client = await clientAt(site('site-b').nats);
  const warm = await client.call({ function: 'upper', input: Buffer.from('before') });
  t.is(warm.response.status, 'OK');
  await Promise.all(cluster.hub.servers.map((s) => killHard(s.pid)));
  for (let i = 0; i < 10; i += 1) {
    const { response } = await client.call({ function: 'upper', input: Buffer.from(`cut off ${i}`) });
    t.is(response.status, 'OK');
    t.is(Buffer.from(response.output).toString(), `CUT OFF ${i}`);
    t.regex(response.invokerId, /^invoker-site-b-\d$/);
  }
  // a function the site never saw needs the hub's KV: the answer says so at once instead of "not found"
  const { response } = await client.call({ function: 'never-deployed', input: Buffer.from('x') });
  t.is(response.errorCode, 'HAYATE_ERR_STORE_UNREACHABLE');
  t.is(response.status, 'OVERLOADED');
});
