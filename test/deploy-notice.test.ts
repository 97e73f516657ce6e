/**
 * Deploy notices (hayate.v1.deployed.<fn>, docs/functions.md): a deploy answers once the invokers have the
 * module compiled in their workers, so that the first call sent after it finds the module ready (no fetch
 * and compile on its clock); calls of many fresh functions right after their deploys are all correct; a
 * forged notice (bytes that do not match the digest) or a malformed one is ignored and harms nothing.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { decodeInvokeResponse, encodeDeployNotice, encodeInvokeRequest } from '../services/common/codec';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';
import { padModule } from './helpers/modules';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1 });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

/** A module never deployed before: the example with a custom section of its own (a new digest). */
function fresh(name: string, i: number): Buffer {
  const base = readFileSync(exampleWasm(name));
  return padModule(base, base.byteLength + 16 + i);
}

let ids = 0;

async function invoke(cluster: Cluster, fn: string, input: string) {
  ids += 1;
  const request = { invocationId: `notice-${ids}`, function: fn, input: Buffer.from(input), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 };
  const msg = await cluster.nc.request(`hayate.v1.invoke.${fn}`, encodeInvokeRequest(request), { timeout: 30_000 });
  return decodeInvokeResponse(msg.data);
}

test.serial('the first call right after a deploy finds its module compiled, when the deploy says an invoker was ready', async (t) => {
  const { cluster } = t.context;
  let ready = 0;
  for (let i = 0; i < 5; i += 1) {
    const spec = await cluster.client.deploy(`fresh-${i}`, fresh('upper', i), { policy: 'wasm' });
    const response = await invoke(cluster, `fresh-${i}`, `first call ${i}`);
    t.is(Buffer.from(response.output).toString(), `FIRST CALL ${i}`);
    t.true(typeof spec['ready_invokers'] === 'number');
    if (spec['ready_invokers'] === 1) {
      ready += 1;
      t.false(response.coldStart, 'the invoker acknowledged the notice: the module was compiled before the call');
    }
  }
  t.log(`${ready} of 5 deploys answered with the invoker ready`);
});

test.serial('50 fresh functions called concurrently right after their deploys each answer their own input', async (t) => {
  const { cluster } = t.context;
  const names = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
  await Promise.all(names.map((fn, i) => cluster.client.deploy(fn, fresh(i % 2 === 0 ? 'upper' : 'reverse', 100 + i), { policy: 'wasm' })));
  const answers = await Promise.all(names.map((fn, i) => invoke(cluster, fn, `input ${i}\n`).then((r) => Buffer.from(r.output).toString().trim())));
  t.deepEqual(answers, names.map((_, i) => (i % 2 === 0 ? `INPUT ${i}` : [...`input ${i}`].reverse().join(''))));
});

test.serial('a forged or malformed deploy notice is ignored: the function still runs its own module', async (t) => {
  const { cluster } = t.context;
  const spec = await cluster.client.deploy('victim', fresh('upper', 999), { policy: 'wasm' });
  const digest = String(spec['digest']);
  // a notice that claims the victim's digest with another program's bytes
  const forged = encodeDeployNotice({
    spec: { name: 'victim', digest, moduleBytes: 0, version: 1, image: '', policy: 'wasm', memoryMb: 128, timeoutMs: 10_000, maxConcurrency: 0, maxInputBytes: 0, maxOutputBytes: 0, maxStderrBytes: 0, args: [], env: {}, createdUnixMs: 0, minMemoryPages: 0, filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false },
    module: readFileSync(exampleWasm('reverse')),
  });
  const replies = await cluster.nc.requestMany('hayate.v1.deployed.victim', forged, { maxWait: 500 }).catch(() => null);
  let acks = 0;
  if (replies !== null) for await (const _ of replies) acks += 1;
  t.is(acks, 0, 'no invoker takes bytes that do not match the digest');
  cluster.nc.publish('hayate.v1.deployed.victim', Buffer.from('not protobuf at all'));
  await cluster.nc.flush();
  t.is(Buffer.from((await invoke(cluster, 'victim', 'still upper')).output).toString(), 'STILL UPPER');
});

test('an invoker that does not compile ahead (HAYATE_PREFETCH=off) answers the notice as not ready, and the function still runs', async (t) => {
  const cluster = await startCluster({ invokers: 1, env: { HAYATE_PREFETCH: 'off' } });
  try {
    const spec = await cluster.client.deploy('lazy', fresh('upper', 7), { policy: 'wasm' });
    t.is(spec['ready_invokers'], 0);
    t.is(Buffer.from((await invoke(cluster, 'lazy', 'compiled at the call')).output).toString(), 'COMPILED AT THE CALL');
  } finally {
    await cluster.stop();
  }
});
