/**
 * Attacks of issue 11 on one invoker with one WASM worker (so that nothing hides behind a spare worker):
 * the 414-byte table bomb (refused at deploy, and stopped by the invoker when written straight to the
 * store), a run that exhausts its worker's JS heap, and a start section that spins while the worker
 * prepares the next instance. After each, the same invoker process answers an ordinary function.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { InvokeResponse } from '../services/common/codec';
import { decodeInvokeResponse, decodeInvokerStatus, encodeInvokeRequest } from '../services/common/codec';
import { HayateError } from '../services/common/errors';
import { parseFunctionName } from '../services/common/names';
import { FunctionStore } from '../services/common/store';
import { buildFixture } from './helpers/c-fixtures';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';
import { alive } from './helpers/process';
import { bigDataModule, HAVE_WAT2WASM, tableBomb, wat } from './helpers/wat';

type Context = { cluster: Cluster; pid: number; invokerId: string };
const test = anyTest as TestFn<Context>;
const watTest = HAVE_WAT2WASM ? test.serial : test.serial.skip;
if (!HAVE_WAT2WASM) console.warn('isolation-attacks: wat2wasm missing (apt-get install wabt): hand-written modules skipped');
let seq = 0;

/**
 * A start section that counts to 10¹⁰ (≈10–20 s here) before the module can run: the attack of finding 6,
 * whose cost lands on whoever waits for the worker that instantiates it.
 */
const SLOW_START = `(module
  (memory (export "memory") 1)
  (func $spin (local $i i64)
    (loop $l
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 10000000000)))))
  (start $spin)
  (func (export "_start")))
`;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, args: ['--workers', '1'], env: { HAYATE_WORKER_HEAP_MB: '64' } });
  const [invoker] = t.context.cluster.invokers;
  if (invoker === undefined) throw new Error('no invoker started');
  t.context.pid = invoker.pid;
  t.context.invokerId = invoker.id;
  await t.context.cluster.client.deploy('upper', readFileSync(exampleWasm('upper')));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

async function invoke(t: ExecutionContext<Context>, fn: string, input = ''): Promise<InvokeResponse> {
  seq += 1;
  const req = encodeInvokeRequest({ invocationId: `attack-${seq}`, function: fn, input: Buffer.from(input), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 });
  return decodeInvokeResponse((await t.context.cluster.nc.request(`hayate.v1.invoke.${fn}`, req, { timeout: 90_000 })).data);
}

/** The same invoker process answers `upper` and has its worker. */
async function stillServing(t: ExecutionContext<Context>): Promise<void> {
  const r = await invoke(t, 'upper', 'still here');
  t.is(r.status, 'OK');
  t.is(Buffer.from(r.output).toString(), 'STILL HERE');
  const status = decodeInvokerStatus((await t.context.cluster.nc.request('hayate.v1.status', new Uint8Array(0), { timeout: 5000 })).data);
  t.is(status.pid, t.context.pid, 'the invoker process was not restarted');
  t.true(alive(t.context.pid));
}

watTest('table bomb is refused at deploy with 400 naming the table-entry limit when memory_mb is the default', async (t) => {
  const err = await t.throwsAsync(t.context.cluster.client.deploy('bomb', tableBomb()), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
  t.is(err?.httpStatus, 400);
  t.regex(err?.message ?? '', /600000000 table entries and memory_mb=128 allows at most 1048576 \(memory_mb × 8192\)/);
});

watTest('table bomb written straight to the store is refused by the invoker while its process lives when the deploy check was bypassed', async (t) => {
  // as an attacker with NATS access (or a controller with other bounds) could: the module goes into the
  // object store and a spec points at it, with no deploy check on the way
  const store = await FunctionStore.open(t.context.cluster.nc);
  const ok = await store.getSpec(parseFunctionName('upper'));
  if (ok === null) throw new Error('upper is not deployed');
  const digest = await store.putModule(tableBomb());
  await store.putSpec({ ...ok, name: parseFunctionName('bomb-bypass'), digest, moduleBytes: 414, version: 0 });
  for (let i = 0; i < 2; i += 1) {
    const r = await invoke(t, 'bomb-bypass');
    t.is(r.status, 'BAD_REQUEST');
    t.is(r.errorCode, 'HAYATE_ERR_INVALID_MODULE');
    t.regex(r.errorMessage, /Cannot run module as module declares 600000000 table entries/);
  }
  const rssKiB = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${t.context.pid}/status`, 'utf8'))?.[1]);
  t.log(`invoker peak RSS ${Math.round(rssKiB / 1024)} MiB after the bomb`);
  await stillServing(t);
});

test.serial('a run that exhausts its worker heap is answered LIMIT_EXCEEDED and only its worker is replaced', async (t) => {
  // empty files by the million: each costs the host a few hundred bytes of JS heap, within a 2 GiB /tmp budget
  await t.context.cluster.client.deploy('file-bomb', buildFixture('hostile', 'disk-bomb'), { memory_mb: 2048, arg: 'files', timeout_ms: 60_000 });
  const r = await invoke(t, 'file-bomb');
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.is(r.errorCode, 'HAYATE_ERR_LIMIT_EXCEEDED');
  t.regex(r.errorMessage, /ran out of JS heap \(64 MiB, HAYATE_WORKER_HEAP_MB\)/);
  await stillServing(t);
});

test.serial('a function whose calls killed two workers is quarantined until it is redeployed', async (t) => {
  // the test before killed one worker with file-bomb; a second death quarantines this version on the invoker
  const second = await invoke(t, 'file-bomb');
  t.is(second.errorCode, 'HAYATE_ERR_LIMIT_EXCEEDED');
  const refused = await invoke(t, 'file-bomb');
  t.is(refused.errorCode, 'HAYATE_ERR_QUARANTINED');
  t.regex(refused.errorMessage, /killed 2 WASM workers/);
  const status = decodeInvokerStatus((await t.context.cluster.nc.request('hayate.v1.status', new Uint8Array(0), { timeout: 5000 })).data);
  t.regex(status.functions.find((f) => f.name === 'file-bomb')?.lastError ?? '', /^quarantined: /);
  await stillServing(t);
  // a redeploy is a new version: it runs again (and kills its worker again, once)
  await t.context.cluster.client.deploy('file-bomb', buildFixture('hostile', 'disk-bomb'), { memory_mb: 2048, arg: 'files', timeout_ms: 60_000 });
  const again = await invoke(t, 'file-bomb');
  t.is(again.errorCode, 'HAYATE_ERR_LIMIT_EXCEEDED');
});

watTest('another function keeps its latency when a start section spins while the worker prepares the next instance', async (t) => {
  await t.context.cluster.client.deploy('slow-start', wat(SLOW_START), { timeout_ms: 60_000 });
  // its first call instantiates inside its own run, on its own clock
  const first = await invoke(t, 'slow-start');
  t.is(first.status, 'OK');
  // the worker then prepares slow-start's next instance, start section included; another function's calls
  // must not wait for it (before: the first `upper` waited the whole start section, 10 s or more); with one
  // worker they wait for its replacement to start
  const started = Date.now();
  for (let i = 0; i < 3; i += 1) t.is((await invoke(t, 'upper', 'next')).status, 'OK');
  const elapsedMs = Date.now() - started;
  t.log(`3 calls of upper after slow-start: ${elapsedMs} ms`);
  t.true(elapsedMs < 5000, `upper waited ${elapsedMs} ms: it waited for slow-start's start section`);
  await stillServing(t);
});

test.serial('calls keep being answered while a 20 MB compile bomb is deployed and prefetched', async (t) => {
  const { client } = t.context.cluster;
  let deploying = true;
  const deploy = client.deploy('data-bomb', bigDataModule(20 * 1024 * 1024), { memory_mb: 64 }).finally(() => (deploying = false));
  const latencies: number[] = [];
  // calls during the deploy, and for 3 s after it, while the invoker fetches and compiles the module
  const until = { ms: Number.POSITIVE_INFINITY };
  void deploy.then(() => (until.ms = Date.now() + 3000), () => (until.ms = 0));
  while (deploying || Date.now() < until.ms) {
    const started = Date.now();
    const r = await client.invoke('upper', Buffer.from('meanwhile'));
    latencies.push(Date.now() - started);
    t.is(r.status, 200);
    await new Promise((res) => setTimeout(res, 20));
  }
  t.is((await deploy)['name'], 'data-bomb');
  const worst = Math.max(...latencies);
  t.log(`${latencies.length} calls during the deploy and prefetch, slowest ${worst} ms`);
  // V8 holds a thread about a second validating and compiling it, now off the event loops; the slowest call
  // is logged, not asserted: the object store put and get of 20 MB still hold the loops (see docs/isolation.md)
  t.is((await invoke(t, 'data-bomb')).status, 'OK');
});
