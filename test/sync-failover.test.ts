/**
 * Sync delivery (SPEC §7) through real processes: nats-server and a controller from `hayate up --invokers 0`,
 * invokers started and SIGKILLed by the test, all of them logging executions to one audit file.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { connect, headers as natsHeaders } from 'nats';
import type { Msg } from 'nats';
import type { NatsConnection } from 'nats';
import { decodeInvokeResponse, encodeInvokeRequest, encodeInvokeResponse } from '../services/common/codec';
import type { InvokeRequest } from '../services/common/codec';
import { Header, Progress } from '../services/common/headers';
import { InvocationClient } from '../services/common/invocation-client';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import type { InvokerProcess } from './helpers/delivery';
import { spawnInvoker, startsOf, waitFor } from './helpers/delivery';
import { killHard } from './helpers/process';
import { exampleWasm } from './helpers/paths';

const test = anyTest.serial as TestFn<{ cluster: Cluster; nc: NatsConnection; audit: string; invokers: InvokerProcess[] }>;

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 0 });
  const audit = join(cluster.dir, 'executions.log');
  t.context = { cluster, nc: await connect({ servers: cluster.nats }), audit, invokers: [] };
  await cluster.client.deploy('sleep', readFileSync(exampleWasm('sleep')));
  await cluster.client.deploy('env-echo', readFileSync(exampleWasm('env-echo')));
});

test.after.always(async (t) => {
  await Promise.allSettled((t.context.invokers ?? []).map((i) => killHard(i.child)));
  await t.context.nc?.close();
  await t.context.cluster?.stop();
});

async function invoker(t: { context: { cluster: Cluster; audit: string; invokers: InvokerProcess[] } }, id: string): Promise<InvokerProcess> {
  const inv = await spawnInvoker(t.context.cluster.nats, id, t.context.audit, { HAYATE_WORKERS: '1' });
  t.context.invokers.push(inv);
  return inv;
}

function request(id: string, attempt: number, input: string, extra: Partial<InvokeRequest> = {}): Uint8Array {
  return encodeInvokeRequest({ invocationId: id, function: 'env-echo', input: Buffer.from(input), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt, ...extra });
}

test('invocation client re-sends to another invoker and returns its answer when the invoker running the call is SIGKILLed', async (t) => {
  const a = await invoker(t, 'failover-a');
  const b = await invoker(t, 'failover-b');
  const client = new InvocationClient(t.context.nc);
  try {
    const id = `kill-${Date.now()}`;
    const call = client.call({ function: 'sleep', args: ['1500'], invocationId: id });
    const first = await waitFor('the first attempt to start', () => startsOf(t.context.audit, id)[0]);
    const victim = [a, b].find((i) => i.id === first.invokerId);
    t.truthy(victim, `the call started on a known invoker (${first.invokerId})`);
    await killHard(victim!.child);
    const result = await call;
    t.is(result.response.status, 'OK');
    t.is(Buffer.from(result.response.output).toString(), 'slept\n');
    t.is(result.attempts, 2);
    t.not(result.response.invokerId, first.invokerId);
    t.true(result.failoverMs > 0);
    const starts = startsOf(t.context.audit, id);
    t.deepEqual(starts.map((s) => s.attempt), [1, 2], 'run once per attempt: the dead invoker never finished it');
  } finally {
    client.close();
  }
});

test('invocation client stops re-sending with HAYATE_ERR_UNAVAILABLE when every invoker that takes the call dies', async (t) => {
  await Promise.all(['poison-a', 'poison-b', 'poison-c'].map((id) => invoker(t, id)));
  const client = new InvocationClient(t.context.nc, { maxDeaths: 2 });
  try {
    const id = `poison-${Date.now()}`;
    const call = client.call({ function: 'sleep', args: ['3000'], invocationId: id });
    // kill whichever invoker runs each attempt, as a request that crashes its invoker would
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const start = await waitFor(`attempt ${attempt} to start`, () => startsOf(t.context.audit, id).find((s) => s.attempt === attempt));
      // after its first beat: the client counts invokers that took the call and then fell silent
      await new Promise((r) => setTimeout(r, 800));
      // any invoker of this file may take it: earlier tests' invokers are still in the queue group
      const victim = t.context.invokers.find((i) => i.id === start.invokerId);
      t.truthy(victim, `attempt ${attempt} ran on a known invoker (${start.invokerId})`);
      if (victim !== undefined) await killHard(victim.child);
    }
    const err = await t.throwsAsync(call);
    t.is((err as { code?: string }).code, 'HAYATE_ERR_UNAVAILABLE');
    t.regex(err?.message ?? '', /2 invokers went silent/);
    // the survivor never got it: no third attempt went around the fleet
    await new Promise((r) => setTimeout(r, 500));
    t.deepEqual(startsOf(t.context.audit, id).map((s) => s.attempt), [1, 2]);
  } finally {
    client.close();
  }
});

test('invocation client does not count an invoker that falls silent and is heard of again among the deaths that stop re-sends', async (t) => {
  // a scripted invoker on its own prefix (the real invokers of this file listen on hayate.*): attempt 1 is taken
  // and falls silent (busy), attempt 2 is taken and falls silent for good (dead), attempt 3 answers; attempt 1's
  // invoker beats again once attempt 2 arrives. Two silences but one death: with maxDeaths 2 the call goes on.
  const { nc } = t.context;
  const beat = (m: Msg): void => {
    const h = natsHeaders();
    h.set(Header.progress, Progress.beat);
    h.set(Header.invoker, 'scripted');
    m.respond(new Uint8Array(0), { headers: h });
  };
  let first: Msg | undefined;
  const seen: number[] = [];
  const sub = nc.subscribe('fake.v1.invoke.busy', {
    callback: (_err, m) => {
      const attempt = Number(m.headers?.get(Header.attempt) ?? 0);
      seen.push(attempt);
      if (attempt === 1) {
        first = m;
        beat(m);
      } else if (attempt === 2) {
        if (first !== undefined) beat(first);
        beat(m);
      } else {
        m.respond(encodeInvokeResponse({ invocationId: 'x', status: 'OK', exitCode: 0, output: Buffer.from('done'), stderr: new Uint8Array(0), tier: 'wasm', invokerId: 'scripted', coldStart: false, timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: 0 }, errorCode: '', errorMessage: '', attempt }));
      }
    },
  });
  await nc.flush();
  const client = new InvocationClient(nc, { prefix: 'fake', maxDeaths: 2, deadAfterMs: 300, beatMs: 100 });
  try {
    const result = await client.call({ function: 'busy', invocationId: `busy-${Date.now()}` });
    t.is(result.response.status, 'OK');
    t.is(Buffer.from(result.response.output).toString(), 'done');
    t.is(result.attempts, 3);
    t.deepEqual(seen, [1, 2, 3]);
  } finally {
    client.close();
    sub.unsubscribe();
  }
});

test('invoker answers a retry of a finished invocation from its peers without running it again when the retry lands anywhere', async (t) => {
  await invoker(t, 'once-a');
  await invoker(t, 'once-b');
  const id = `once-${Date.now()}`;
  const first = decodeInvokeResponse((await t.context.nc.request('hayate.v1.invoke.env-echo', request(id, 1, 'only once'), { timeout: 10_000 })).data);
  t.is(first.status, 'OK');
  // retries go to the queue group: with two invokers, some land on the one that did not run it
  for (let attempt = 2; attempt <= 7; attempt += 1) {
    const again = decodeInvokeResponse((await t.context.nc.request('hayate.v1.invoke.env-echo', request(id, attempt, 'only once'), { timeout: 10_000 })).data);
    t.is(again.status, 'OK');
    t.deepEqual(Buffer.from(again.output), Buffer.from(first.output));
  }
  t.is(startsOf(t.context.audit, id).length, 1);
});

test('invoker drops a request and answers HAYATE_ERR_DEADLINE_EXCEEDED when its deadline has passed', async (t) => {
  const id = `stale-${Date.now()}`;
  const r = decodeInvokeResponse((await t.context.nc.request('hayate.v1.invoke.env-echo', request(id, 1, 'stale', { deadlineUnixMs: Date.now() - 1000 }), { timeout: 10_000 })).data);
  t.is(r.status, 'TIMEOUT');
  t.is(r.errorCode, 'HAYATE_ERR_DEADLINE_EXCEEDED');
  t.regex(r.errorMessage, /deadline passed/);
  t.is(startsOf(t.context.audit, id).length, 0);
});

test('invocation client waits for an invoker and succeeds when none is subscribed at first', async (t) => {
  await Promise.all(t.context.invokers.map((i) => killHard(i.child)));
  const client = new InvocationClient(t.context.nc, { noResponderBackoffMs: 200 });
  try {
    const call = client.call({ function: 'env-echo', input: Buffer.from('late invoker') });
    await sleep(500);
    await invoker(t, 'failover-late');
    const result = await call;
    t.is(result.response.status, 'OK');
    t.true(result.attempts > 1);
    t.is(result.response.invokerId, 'failover-late');
  } finally {
    client.close();
  }
});

test('HTTP invoke answers 200 with the attempt count when the invoker running it is SIGKILLed', async (t) => {
  const c = await invoker(t, 'failover-http-c');
  await invoker(t, 'failover-http-d');
  const started = Date.now();
  const call = t.context.cluster.client.invoke('sleep', Buffer.alloc(0), { args: ['1500'] });
  const first = await waitFor('an HTTP call to start', () => [...readFileSync(t.context.audit, 'utf8').trim().split('\n')].map((l) => l.split(' ')).find((f) => f[1] === 'start' && Number(f[0]) >= started));
  const victim = t.context.invokers.find((i) => i.id === first[4]) ?? c;
  await killHard(victim.child);
  const r = await call;
  t.is(r.status, 200);
  t.is(r.body.toString(), 'slept\n');
  t.is(r.headers.get('hayate-attempt'), '2');
  t.regex(r.headers.get('hayate-failover-ms') ?? '', /^\d+$/);
});
