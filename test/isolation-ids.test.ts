/**
 * Invocation ids are scoped to one function and one request (SPEC §7, issue 11 finding 5): an id seen once
 * cannot be used to read another caller's output, through the invoker that ran it or through its peers.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { decodeInvokeResponse, encodeInvokeRequest } from '../services/common/codec';
import type { InvokeResponse } from '../services/common/codec';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';

const test = anyTest.serial as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 2 });
  for (const fn of ['upper', 'sha256']) await t.context.cluster.client.deploy(fn, readFileSync(exampleWasm(fn)));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

async function invoke(t: { context: { cluster: Cluster } }, fn: string, id: string, input: string, attempt: number): Promise<InvokeResponse> {
  const data = encodeInvokeRequest({ invocationId: id, function: fn, input: Buffer.from(input), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt });
  const msg = await t.context.cluster.nc.request(`hayate.v1.invoke.${fn}`, data, { timeout: 10_000 });
  return decodeInvokeResponse(msg.data);
}

const text = (r: InvokeResponse): string => Buffer.from(r.output).toString();

test('invoker runs a reused invocation id as its own invocation when it names another function', async (t) => {
  const id = `victim-${Date.now()}`;
  const victim = await invoke(t, 'upper', id, 'the secret', 1);
  t.is(text(victim), 'THE SECRET');
  // first and later attempts, so that both the invoker holding the answer and its peers are asked
  for (const attempt of [1, 2, 2, 3]) {
    const r = await invoke(t, 'sha256', id, 'x', attempt);
    t.is(r.status, 'OK');
    t.not(text(r), 'THE SECRET');
    t.regex(text(r), /^[0-9a-f]{64}/, `sha256 ran for attempt ${attempt}`);
  }
});

test('invoker never answers a reused invocation id with the output of another request to the same function', async (t) => {
  const id = `victim2-${Date.now()}`;
  t.is(text(await invoke(t, 'upper', id, 'private data', 1)), 'PRIVATE DATA');
  for (const attempt of [1, 2, 2, 3]) {
    const r = await invoke(t, 'upper', id, 'attacker', attempt);
    // another request under the same id is another invocation, wherever it lands
    t.is(text(r), 'ATTACKER', `attempt ${attempt}`);
  }
  // the real retry of the same request still gets the stored answer
  t.is(text(await invoke(t, 'upper', id, 'private data', 2)), 'PRIVATE DATA');
});

test('invoker runs the victim’s own request when an attacker claimed its invocation id first', async (t) => {
  const id = `claimed-${Date.now()}`;
  t.is(text(await invoke(t, 'upper', id, 'attacker output', 1)), 'ATTACKER OUTPUT');
  for (const attempt of [1, 2]) {
    const r = await invoke(t, 'upper', id, 'victim input', attempt);
    t.is(text(r), 'VICTIM INPUT', `attempt ${attempt}`);
  }
});
