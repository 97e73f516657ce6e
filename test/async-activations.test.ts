/**
 * Async delivery (SPEC §5, §7) through real processes: nats-server and a controller from `hayate up
 * --invokers 0`, invokers started (and SIGKILLed) by the test, sharing one execution audit file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { encodeInvokeRequest } from '../services/common/codec';
import { HayateError } from '../services/common/errors';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { runCli } from './helpers/cli';
import type { InvokerProcess } from './helpers/delivery';
import { spawnInvoker, startsOf, waitFor } from './helpers/delivery';
import { killHard } from './helpers/process';
import { exampleWasm } from './helpers/paths';

type Context = { cluster: Cluster; nc: NatsConnection; audit: string; invokers: InvokerProcess[] };
const test = anyTest.serial as TestFn<Context>;

/** Short ack wait and two attempts, so the death and give-up paths take seconds. */
const ASYNC_ENV = { HAYATE_ASYNC_ACK_WAIT_MS: '1500', HAYATE_ASYNC_MAX_ATTEMPTS: '2', HAYATE_WORKERS: '1' };

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 0, env: ASYNC_ENV });
  t.context = { cluster, nc: await connect({ servers: cluster.nats }), audit: join(cluster.dir, 'executions.log'), invokers: [] };
  await cluster.client.deploy('upper', readFileSync(exampleWasm('upper')));
  await cluster.client.deploy('sleep', readFileSync(exampleWasm('sleep')));
  await cluster.client.deploy('fails', readFileSync(exampleWasm('env-echo')), { env: ['EXIT_CODE=3'] });
});

test.after.always(async (t) => {
  await Promise.allSettled((t.context.invokers ?? []).map((i) => killHard(i.child)));
  await t.context.nc?.close();
  await t.context.cluster?.stop();
});

async function invoker(t: { context: Context }, id: string): Promise<InvokerProcess> {
  const inv = await spawnInvoker(t.context.cluster.nats, id, t.context.audit, ASYNC_ENV);
  t.context.invokers.push(inv);
  return inv;
}

async function postAsync(cluster: Cluster, path: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; id: string; location: string | null }> {
  const res = await fetch(`${cluster.http}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', ...headers } });
  const json = (await res.json()) as { id?: string };
  return { status: res.status, id: json.id ?? '', location: res.headers.get('location') };
}

function finished(t: { context: Context }, id: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  return waitFor(`activation ${id} to finish`, async () => {
    const a = await t.context.cluster.client.activation(id);
    return a['state'] === 'succeeded' || a['state'] === 'failed' ? a : undefined;
  }, timeoutMs, 100);
}

test('async invoke answers 202 with an id and Location and the activation reaches succeeded with the output when the function succeeds', async (t) => {
  await invoker(t, 'async-a');
  const byQuery = await postAsync(t.context.cluster, '/v1/functions/upper/invoke?async=1', 'by query');
  const byPrefer = await postAsync(t.context.cluster, '/v1/functions/upper/invoke', 'by prefer', { prefer: 'respond-async' });
  for (const [r, text] of [[byQuery, 'BY QUERY'], [byPrefer, 'BY PREFER']] as const) {
    t.is(r.status, 202);
    t.regex(r.id, /^[A-Za-z0-9_-]+$/);
    t.is(r.location, `/v1/activations/${r.id}`);
    const a = await finished(t, r.id);
    t.is(a['state'], 'succeeded');
    t.is(a['output'], text);
    t.is(a['status'], 'OK');
    t.is(a['exit_code'], 0);
    t.is(a['attempts'], 1);
    t.is(a['tier'], 'wasm');
    t.is(a['invoker'], 'async-a');
    t.is(typeof (a['timings_ms'] as Record<string, number>)['total'], 'number');
  }
});

test('activation is failed with the function error and not retried when the function exits non-zero', async (t) => {
  const r = await postAsync(t.context.cluster, '/v1/functions/fails/invoke?async=1', 'x');
  const a = await finished(t, r.id);
  t.is(a['state'], 'failed');
  t.is(a['exit_code'], 3);
  t.is((a['error'] as { code: string }).code, 'HAYATE_ERR_FUNCTION_ERROR');
  t.regex(String(a['reason']), /exited with code 3/);
  t.is(a['attempts'], 1);
  t.is(a['stderr'], 'stderr-line\n');
});

test('GET /v1/activations answers 404 HAYATE_ERR_ACTIVATION_NOT_FOUND when the id is unknown', async (t) => {
  const err = await t.throwsAsync(t.context.cluster.client.activation('no-such-activation'), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_ACTIVATION_NOT_FOUND');
  const res = await fetch(`${t.context.cluster.http}/v1/activations/no-such-activation`);
  t.is(res.status, 404);
});

test('async invoke answers 404 and queues nothing when the function is not deployed', async (t) => {
  const r = await postAsync(t.context.cluster, '/v1/functions/ghost/invoke?async=1', 'x');
  t.is(r.status, 404);
  t.is(r.id, '');
});

test('hayate invoke --async prints the id and hayate activation prints the record when given that id', async (t) => {
  const env = { HAYATE_URL: t.context.cluster.http };
  const queued = await runCli(['invoke', 'upper', '--async', '--json'], 'from the cli', env);
  t.is(queued.code, 0, queued.stderr);
  const id = (JSON.parse(queued.stdout) as { id: string }).id;
  await finished(t, id);
  const shown = await runCli(['activation', id], undefined, env);
  t.is(shown.code, 0, shown.stderr);
  const a = JSON.parse(shown.stdout) as Record<string, unknown>;
  t.is(a['id'], id);
  t.is(a['state'], 'succeeded');
  t.is(a['output'], 'FROM THE CLI');
  const missing = await runCli(['activation', 'nope'], undefined, env);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /HAYATE_ERR_ACTIVATION_NOT_FOUND/);
});

test('async invocation is failed with HAYATE_ERR_DEADLINE_EXCEEDED and never run when its deadline passed before an invoker took it', async (t) => {
  const id = `stale-async-${Date.now()}`;
  const js = t.context.nc.jetstream();
  await js.publish('hayate.v1.async.upper', encodeInvokeRequest({ invocationId: id, function: 'upper', input: Buffer.from('stale'), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: Date.now() - 1, attempt: 0 }), { msgID: id });
  const a = await finished(t, id);
  t.is(a['state'], 'failed');
  t.is((a['error'] as { code: string }).code, 'HAYATE_ERR_DEADLINE_EXCEEDED');
  t.regex(String(a['reason']), /deadline passed/);
  t.is(startsOf(t.context.audit, id).length, 0);
});

test('async activation is redelivered and succeeds on another invoker when the invoker running it is SIGKILLed', async (t) => {
  await invoker(t, 'async-b');
  const r = await postAsync(t.context.cluster, '/v1/functions/sleep/invoke?async=1&arg=1200', '');
  const first = await waitFor('the activation to start', () => startsOf(t.context.audit, r.id)[0]);
  const victim = t.context.invokers.find((i) => i.id === first.invokerId);
  t.truthy(victim);
  await killHard(victim!.child);
  await invoker(t, 'async-c');
  const a = await finished(t, r.id);
  t.is(a['state'], 'succeeded');
  t.is(a['output'], 'slept\n');
  t.is(a['attempts'], 2);
  t.not(a['invoker'], first.invokerId);
  t.deepEqual(startsOf(t.context.audit, r.id).map((s) => s.attempt), [1, 2]);
});

test('async activation is failed with the reason after the last attempt when every invoker that takes it dies', async (t) => {
  await Promise.all(t.context.invokers.map((i) => killHard(i.child)));
  const r = await postAsync(t.context.cluster, '/v1/functions/sleep/invoke?async=1&arg=5000', '');
  for (let attempt = 1; attempt <= 2; attempt += 1) {
    await invoker(t, `doomed-${attempt}`);
    const run = await waitFor(`attempt ${attempt} to start`, () => startsOf(t.context.audit, r.id).find((s) => s.attempt === attempt));
    await killHard(t.context.invokers.find((i) => i.id === run.invokerId)!.child);
  }
  await invoker(t, 'bookkeeper');
  const a = await finished(t, r.id);
  t.is(a['state'], 'failed');
  t.is(a['attempts'], 2);
  t.regex(String(a['reason']), /failed after 2 attempts/);
  t.is((a['error'] as { code: string }).code, 'HAYATE_ERR_UNAVAILABLE');
  t.is(startsOf(t.context.audit, r.id).length, 2, 'the delivery after the last attempt does not run it');
});
