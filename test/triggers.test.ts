/**
 * Subject triggers (SPEC §5, §7) through real processes: nats-server and a controller from `hayate up
 * --invokers 0`, invokers started (and SIGKILLed) by the test, sharing one execution audit file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { headers as natsHeaders, RetentionPolicy, StorageType } from 'nats';
import type { NatsConnection } from 'nats';
import { analyseAudit } from '../bench/chaos-audit';
import { HayateError } from '../services/common/errors';
import { EventsClient } from '../services/cli/events-client';
import type { Cluster } from './helpers/cluster';
import { runCli } from './helpers/cli';
import { startCluster } from './helpers/cluster';
import type { InvokerProcess } from './helpers/delivery';
import { executions, spawnInvoker, waitFor } from './helpers/delivery';
import { killHard } from './helpers/process';
import { exampleWasm } from './helpers/paths';

type Context = { cluster: Cluster; nc: NatsConnection; audit: string; invokers: InvokerProcess[]; events: EventsClient };
const test = anyTest.serial as TestFn<Context>;

/** Short ack wait, so a dead invoker's messages move on within seconds. */
const ENV = { HAYATE_ASYNC_ACK_WAIT_MS: '1500', HAYATE_WORKERS: '2' };
const text = (data: Uint8Array) => new TextDecoder().decode(data);

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 0, env: ENV });
  t.context = { cluster, nc: cluster.nc, audit: join(cluster.dir, 'executions.log'), invokers: [], events: new EventsClient(cluster.http) };
  await cluster.client.deploy('slow', readFileSync(exampleWasm('sleep')));
  await cluster.client.deploy('temp-alert', readFileSync(exampleWasm('temp-alert')));
});

test.after.always(async (t) => {
  await Promise.allSettled((t.context.invokers ?? []).map((i) => killHard(i.child)));
  await t.context.cluster?.stop();
});

async function invoker(t: { context: Context }, id: string): Promise<InvokerProcess> {
  const inv = await spawnInvoker(t.context.cluster.nats, id, t.context.audit, ENV);
  t.context.invokers.push(inv);
  return inv;
}

/** Starts an invoker unless one is alive (tests may run alone with --match). */
async function anInvoker(t: { context: Context }, id: string): Promise<void> {
  if (t.context.invokers.every((i) => i.child.exitCode !== null || i.child.signalCode !== null)) await invoker(t, id);
}

async function refused(t: { context: Context }, name: string, body: Record<string, unknown>): Promise<string> {
  const err = await t.context.events.putTrigger(name, body).then(() => null, (e: unknown) => e);
  return err instanceof HayateError ? err.code : `no error: ${String(err)}`;
}

async function metrics(t: { context: Context }, name: string): Promise<Record<string, number>> {
  return (await t.context.events.trigger(name))['metrics'] as Record<string, number>;
}

test('trigger is refused with a typed code when its function is not deployed, its subject is hayate\'s or another trigger\'s, or it has no source', async (t) => {
  t.is(await refused(t, 'nofn', { function: 'missing', subject: 'a.b' }), 'HAYATE_ERR_NOT_FOUND');
  t.is(await refused(t, 'own', { function: 'slow', subject: 'hayate.v1.call.slow' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused(t, 'wild', { function: 'slow', subject: '>' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused(t, 'none', { function: 'slow' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused(t, 'two', { function: 'slow', subject: 'a.b', every: '1s' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused(t, 'badcron', { function: 'slow', cron: 'every tuesday' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused(t, 'loop', { function: 'slow', subject: 'loop.*', result_subject: 'loop.out' }), 'HAYATE_ERR_INVALID_OPTION');
  await t.context.events.putTrigger('first', { function: 'slow', subject: 'overlap.*.x' });
  t.is(await refused(t, 'second', { function: 'slow', subject: 'overlap.>' }), 'HAYATE_ERR_TRIGGER_CONFLICT');
  await t.context.events.removeTrigger('first');
  const missing = await t.context.events.trigger('first').then(() => null, (e: unknown) => e);
  t.is((missing as HayateError).code, 'HAYATE_ERR_TRIGGER_NOT_FOUND');
});

test('hayate trigger add, ls, get and rm manage a trigger when run from the CLI', async (t) => {
  const url = t.context.cluster.http;
  const add = await runCli(['trigger', 'add', 'cli-every', '--function', 'slow', '--every', '1m', '--arg', '5', '--url', url]);
  t.is(add.code, 0, add.stderr);
  t.regex(add.stdout, /^trigger cli-every: every 1m → slow \(active\)/);
  const ls = await runCli(['trigger', 'ls', '--url', url]);
  t.regex(ls.stdout, /^NAME\s+FUNCTION\s+SOURCE\s+STATE\s+RECEIVED\s+INVOKED\s+FAILED\s+DROPPED\s+LAG\n/);
  t.regex(ls.stdout, /\ncli-every\s+slow\s+every 1m\s+active\s+\d+\s+\d+\s+0\s+0\s+\d+/);
  const got = JSON.parse((await runCli(['trigger', 'get', 'cli-every', '--url', url])).stdout) as Record<string, unknown>;
  t.deepEqual(got['args'], ['5']);
  t.is(Date.parse(String(got['next_tick'])) % 60_000, 0, 'ticks of --every 1m fall on whole minutes');
  const noFunction = await runCli(['trigger', 'add', 'x', '--subject', 'a.b', '--url', url]);
  t.is(noFunction.code, 2);
  t.regex(noFunction.stderr, /--function is required/);
  t.is((await runCli(['trigger', 'rm', 'cli-every', '--url', url])).code, 0);
  const gone = await runCli(['trigger', 'get', 'cli-every', '--url', url]);
  t.is(gone.code, 1);
  t.regex(gone.stderr, /HAYATE_ERR_TRIGGER_NOT_FOUND/);
});

test('subject trigger runs every message exactly once when an invoker is SIGKILLed mid-stream, per the execution audit', async (t) => {
  const { nc, events } = t.context;
  const a = await invoker(t, 'trg-a');
  await invoker(t, 'trg-b');
  // a stream on the result subject de-duplicates by Nats-Msg-Id: it must end with one output per message
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'TEST_SLOW_RESULTS', subjects: ['results.slow'], retention: RetentionPolicy.Limits, storage: StorageType.Memory });
  const trigger = await events.putTrigger('slow-jobs', { function: 'slow', subject: 'jobs.*', args: ['400'], result_subject: 'results.slow', concurrency: 4 });
  const uid = String(trigger['uid']);
  const js = nc.jetstream();
  const count = 40;
  for (let i = 1; i <= count; i += 1) {
    const ack = await js.publish(`jobs.${i}`, new TextEncoder().encode(String(i)));
    t.is(ack.stream, 'HAYATE_TRIGGER_slow-jobs', 'JetStream captured the message before acknowledging it');
  }
  const ids = new Set(Array.from({ length: count }, (_, i) => `t-${uid}-${i + 1}`));
  // kill invoker a while it holds work: after some answers, at a start of its own without an answer yet
  await waitFor('answers and a run in progress on trg-a', () => {
    const records = executions(t.context.audit);
    const answered = new Set(records.filter((r) => r.event === 'answer').map((r) => r.invocationId));
    return answered.size >= 8 && records.some((r) => r.event === 'start' && r.invokerId === 'trg-a' && !answered.has(r.invocationId)) ? true : undefined;
  }, 60_000, 20);
  const killedAt = Date.now();
  await killHard(a.child);

  await waitFor('every activation to succeed', async () => {
    const states = await Promise.all([...ids].map((id) => t.context.cluster.client.activation(id).then((r) => r['state'], () => 'missing')));
    return states.every((s) => s === 'succeeded') ? true : undefined;
  }, 90_000, 250);

  const audit = analyseAudit(executions(t.context.audit), [{ atMs: killedAt, kind: 'invoker', target: 'trg-a' }], ids);
  t.is(audit.invocations, count, 'every message ran');
  t.is(audit.duplicatesOfFinished, 0, 'no message ran again after its answer was stored');
  t.is(audit.unexplained, 0, 'every re-run follows the SIGKILL of the invoker that started it');
  t.true(audit.afterInvokerDeath >= 1, 'the killed invoker held a message that another invoker then ran');
  const answers = executions(t.context.audit).filter((r) => r.event === 'answer' && ids.has(r.invocationId));
  t.is(new Set(answers.map((r) => r.invocationId)).size, count);
  await waitFor('the results stream to hold every output', async () => ((await jsm.streams.info('TEST_SLOW_RESULTS')).state.messages === count ? true : undefined), 20_000, 100);
  t.is((await jsm.streams.info('TEST_SLOW_RESULTS')).state.messages, count, 'one published output per message, re-publishes de-duplicated');
  const m = await waitFor('counters to arrive', async () => {
    const v = await metrics(t, 'slow-jobs');
    return v['lag'] === 0 && v['in_flight'] === 0 && v['invoked']! > 0 ? v : undefined;
  }, 20_000, 200);
  t.is(m['received'], count);
  t.is(m['failed'], 0);
  // the SIGKILLed invoker's counts of its last second are lost (the runs are not: see the audit)
  t.true(m['invoked']! <= count);
  await events.removeTrigger('slow-jobs');
});

test('subject trigger passes subject and headers as env, publishes alerts, and answers a Hayate-Reply-To header', async (t) => {
  const { nc, events } = t.context;
  await anInvoker(t, 'trg-c');
  await events.putTrigger('sensors', { function: 'temp-alert', subject: 'sensors.*.temp', result_subject: 'alerts.temp' });
  const alerts = nc.subscribe('alerts.temp', { max: 2 });
  const reply = nc.subscribe('test.reply.1', { max: 1 });
  const h = natsHeaders();
  h.set('Unit', 'F');
  h.set('Hayate-Reply-To', 'test.reply.1');
  nc.publish('sensors.7.temp', new TextEncoder().encode('99.5'), { headers: h });
  nc.publish('sensors.8.temp', new TextEncoder().encode('10'));
  // a second alert, without the Unit header: its env is its own, not the previous run's (WASM workers reuse
  // an instance prepared with the last env)
  nc.publish('sensors.9.temp', new TextEncoder().encode('45'));
  const got = new Map<string, unknown>();
  for await (const m of alerts) {
    t.is(m.headers?.get('Hayate-Trigger'), 'sensors');
    const alert = JSON.parse(text(m.data)) as { sensor: string };
    t.is(m.headers?.get('Hayate-Subject'), `sensors.${alert.sensor}.temp`);
    got.set(alert.sensor, alert);
  }
  t.deepEqual(got.get('7'), { sensor: '7', reading: 99.5, unit: 'F', threshold: 30 });
  t.deepEqual(got.get('9'), { sensor: '9', reading: 45, unit: 'C', threshold: 30 });
  for await (const m of reply) {
    t.is(m.headers?.get('Hayate-Status'), 'OK');
    t.regex(text(m.data), /"sensor":"7"/);
  }
  await waitFor('the three readings counted', async () => ((await metrics(t, 'sensors'))['invoked'] === 3 ? true : undefined), 20_000, 200);
});

test('trigger is paused with a reason when its function is removed, keeps its messages, drops those past max_age with a counted reason, and resumes on redeploy', async (t) => {
  const { nc, events, cluster } = t.context;
  await anInvoker(t, 'trg-d');
  await events.putTrigger('aged', { function: 'temp-alert', subject: 'aged.*.temp', max_age: '1s' });
  await cluster.client.remove('temp-alert');
  const paused = await events.trigger('aged');
  t.is(paused['state'], 'paused');
  t.regex(String(paused['reason']), /temp-alert is not deployed/);
  const js = nc.jetstream();
  for (let i = 0; i < 3; i += 1) await js.publish('aged.1.temp', new TextEncoder().encode('5'));
  // a pull already waiting at the server when the trigger paused may take one and hand it back: it then
  // counts as in flight until its redelivery, still in the stream
  await waitFor('the messages to wait in the stream while paused', async () => {
    const v = await metrics(t, 'aged');
    return v['lag']! + v['in_flight']! === 3 && v['invoked'] === 0 ? true : undefined;
  }, 10_000, 100);
  await new Promise((r) => setTimeout(r, 1500)); // past max_age
  await cluster.client.deploy('temp-alert', readFileSync(exampleWasm('temp-alert')));
  const m = await waitFor('the aged messages to be dropped', async () => {
    const v = await metrics(t, 'aged');
    return v['dropped'] === 3 ? v : undefined;
  }, 30_000, 200);
  t.deepEqual(m['dropped_by_reason'] as unknown, { max_age: 3 });
  t.is((await events.trigger('aged'))['state'], 'active');
  await js.publish('aged.2.temp', new TextEncoder().encode('6'));
  await waitFor('a fresh message to run', async () => ((await metrics(t, 'aged'))['invoked'] === 1 ? true : undefined), 20_000, 200);
});
