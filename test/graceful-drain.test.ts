/**
 * Graceful drain on SIGTERM (SPEC §7): stop intake, finish what runs, exit 0. Real processes throughout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { HttpClient } from '../services/cli/http-client';
import { startLocalCluster } from '../services/common/local-cluster';
import { HAYATE_BIN, spawnUntilReady } from '../services/cli/processes';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import type { InvokerProcess } from './helpers/delivery';
import { spawnInvoker, startsOf, waitFor } from './helpers/delivery';
import { exampleWasm } from './helpers/paths';
import { alive, exited, killHard } from './helpers/process';

type Context = { cluster: Cluster; audit: string; invokers: InvokerProcess[] };
const test = anyTest.serial as TestFn<Context>;

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 0 });
  t.context = { cluster, audit: join(cluster.dir, 'executions.log'), invokers: [] };
  await cluster.client.deploy('sleep', readFileSync(exampleWasm('sleep')));
});

test.after.always(async (t) => {
  await Promise.allSettled((t.context.invokers ?? []).map((i) => killHard(i.child)));
  await t.context.cluster?.stop();
});

async function invoker(t: { context: Context }, id: string): Promise<InvokerProcess> {
  const inv = await spawnInvoker(t.context.cluster.nats, id, t.context.audit, { HAYATE_WORKERS: '1' });
  t.context.invokers.push(inv);
  return inv;
}

test('invoker finishes the running call and exits 0 when sent SIGTERM during it', async (t) => {
  const inv = await invoker(t, 'drain-sync');
  const since = Date.now();
  const call = t.context.cluster.client.invoke('sleep', Buffer.alloc(0), { args: ['1500'] });
  await waitFor('the call to start', () => (readFileSync(t.context.audit, 'utf8').split('\n').some((l) => l.includes(' start ') && Number(l.split(' ')[0]) >= since) ? true : undefined));
  const gone = exited(inv.child);
  inv.child.kill('SIGTERM');
  const r = await call;
  t.is(r.status, 200);
  t.is(r.body.toString(), 'slept\n');
  t.is(r.headers.get('hayate-attempt'), '1', 'answered by the draining invoker, not by a retry');
  t.deepEqual(await gone, { code: 0, signal: null });
});

test('invoker finishes the running async activation and exits 0 when sent SIGTERM during it', async (t) => {
  const inv = await invoker(t, 'drain-async');
  const res = await fetch(`${t.context.cluster.http}/v1/functions/sleep/invoke?async=1&arg=1500`, { method: 'POST' });
  const { id } = (await res.json()) as { id: string };
  await waitFor('the activation to start', () => startsOf(t.context.audit, id)[0]);
  const gone = exited(inv.child);
  inv.child.kill('SIGTERM');
  t.deepEqual(await gone, { code: 0, signal: null });
  const a = await t.context.cluster.client.activation(id);
  t.is(a['state'], 'succeeded', 'stored before the invoker exited');
  t.is(a['attempts'], 1);
  t.is(a['invoker'], 'drain-async');
});

test('controller finishes the running call and exits 0 when sent SIGTERM during it', async (t) => {
  await invoker(t, 'drain-behind-controller');
  const { child, line } = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', t.context.cluster.nats, '--port', '0', '--host', '127.0.0.1'], /^hayate controller ready http=/, {
    label: 'drain-controller',
    env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' },
  });
  const client = new HttpClient(line.replace(/^hayate controller ready http=/, '').trim());
  const since = Date.now();
  const call = client.invoke('sleep', Buffer.alloc(0), { args: ['1500'] });
  await waitFor('the call to start', () => (readFileSync(t.context.audit, 'utf8').split('\n').some((l) => l.includes(' start ') && Number(l.split(' ')[0]) >= since) ? true : undefined));
  const gone = exited(child);
  child.kill('SIGTERM');
  const r = await call;
  t.is(r.status, 200);
  t.is(r.body.toString(), 'slept\n');
  t.deepEqual(await gone, { code: 0, signal: null });
});

test('hayate up finishes the running call, stops every child and exits 0 when sent SIGTERM during a call', async (t) => {
  const up = await startLocalCluster({ invokers: 1 });
  try {
    const client = new HttpClient(up.http);
    await client.deploy('sleep', readFileSync(exampleWasm('sleep')));
    const call = client.invoke('sleep', Buffer.alloc(0), { args: ['1500'] });
    // the call is running once the controller has a pending request and the invoker reports it in flight
    await waitFor('the call to run', async () => (((await client.status())['invokers'] as { in_flight: number }[]).some((i) => i.in_flight > 0) ? true : undefined), 20_000, 20);
    const gone = exited(up.child);
    up.child.kill('SIGTERM');
    const r = await call;
    t.is(r.status, 200, 'the controller, the invoker and NATS stayed until the call was answered');
    t.is(r.body.toString(), 'slept\n');
    t.deepEqual(await gone, { code: 0, signal: null });
    const state = JSON.parse(readFileSync(join(up.dir, 'state.json'), 'utf8')) as { invokers: { pid: number }[]; controller: { pid: number }; nats_pid: number };
    for (const pid of [state.controller.pid, state.nats_pid, ...state.invokers.map((i) => i.pid)]) t.false(alive(pid), `child ${pid} stopped`);
  } finally {
    await up.stop();
  }
  t.false(existsSync(join(up.dir, 'state.json')));
});
