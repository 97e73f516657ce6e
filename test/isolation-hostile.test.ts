/**
 * Hostile functions on one invoker (2 WASM workers): each is answered with its own status, and the same
 * invoker process (same pid, never restarted) goes on serving an ordinary function after every one of them.
 * Functions are C programs in test/fixtures/hostile/, built with clang for wasm32-wasi.
 */
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { InvokeResponse } from '../services/common/codec';
import { decodeInvokeResponse, decodeInvokerStatus, encodeInvokeRequest } from '../services/common/codec';
import { HayateError } from '../services/common/errors';
import { buildFixture } from './helpers/c-fixtures';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';
import { alive } from './helpers/process';
import { readFileSync } from 'node:fs';

const test = anyTest as TestFn<{ cluster: Cluster; pid: number; invokerId: string }>;
const MiB = 1024 * 1024;
let seq = 0;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, args: ['--workers', '2'], env: { HAYATE_MAX_PENDING: '4', HAYATE_MAX_PENDING_MB: '1' } });
  const { client, invokers } = t.context.cluster;
  const [invoker] = invokers;
  if (invoker === undefined) throw new Error('no invoker started');
  t.context.pid = invoker.pid;
  t.context.invokerId = invoker.id;
  const hostile = (name: string) => buildFixture('hostile', name);
  await Promise.all([
    client.deploy('upper', readFileSync(exampleWasm('upper'))),
    client.deploy('spin', hostile('spin'), { timeout_ms: 1000 }),
    client.deploy('sleep-forever', hostile('sleep-forever'), { timeout_ms: 1000 }),
    client.deploy('malloc-bomb', hostile('malloc-bomb'), { memory_mb: 32 }),
    client.deploy('malloc-bomb-unchecked', hostile('malloc-bomb-unchecked'), { memory_mb: 32 }),
    client.deploy('output-flood', hostile('output-flood')),
    client.deploy('stderr-flood', hostile('output-flood'), { arg: 'stderr', max_stderr_bytes: 1000 }),
    client.deploy('disk-bomb', hostile('disk-bomb'), { memory_mb: 16 }),
    client.deploy('file-bomb', hostile('disk-bomb'), { memory_mb: 16, arg: 'files' }),
    client.deploy('fd-bomb', hostile('fd-bomb')),
    client.deploy('recursion', hostile('recursion')),
    client.deploy('cat', hostile('cat')),
    client.deploy('socket', buildFixture('wasi', 'socket')),
    client.deploy('big-output', hostile('big-output'), { max_output_bytes: 16 * MiB }),
    client.deploy('held', hostile('sleep-forever'), { timeout_ms: 600, max_concurrency: 1 }),
  ]);
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

/** Invokes over `hayate.v1.invoke.<fn>` and decodes the whole answer. */
async function invoke(t: ExecutionContext<{ cluster: Cluster }>, fn: string, args: string[] = [], input = ''): Promise<InvokeResponse> {
  seq += 1;
  const req = encodeInvokeRequest({ invocationId: `hostile-${seq}`, function: fn, input: Buffer.from(input), args, env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 });
  const msg = await t.context.cluster.nc.request(`hayate.v1.invoke.${fn}`, req, { timeout: 30_000 });
  return decodeInvokeResponse(msg.data);
}

/** The same invoker process still answers an ordinary function, and has not restarted. */
async function stillServing(t: ExecutionContext<{ cluster: Cluster; pid: number; invokerId: string }>): Promise<void> {
  const r = await invoke(t, 'upper', [], 'still here');
  t.is(r.status, 'OK');
  t.is(Buffer.from(r.output).toString(), 'STILL HERE');
  t.is(r.invokerId, t.context.invokerId);
  const status = decodeInvokerStatus((await t.context.cluster.nc.request('hayate.v1.status', new Uint8Array(0), { timeout: 5000 })).data);
  t.is(status.pid, t.context.pid, 'the invoker process was not restarted');
  t.is(status.state, 'running');
  t.is(status.workers, 2);
  t.true(alive(t.context.pid), 'invoker process alive');
}

test.serial('infinite loop is answered TIMEOUT while other functions keep being served when it runs past timeout_ms', async (t) => {
  const spinning = invoke(t, 'spin');
  // both workers: one spins, the other serves, during the loop
  for (let i = 0; i < 3; i += 1) t.is((await invoke(t, 'upper', [], 'during')).status, 'OK');
  const r = await spinning;
  t.is(r.status, 'TIMEOUT');
  t.is(r.errorCode, 'HAYATE_ERR_TIMEOUT');
  // again, to prove the terminated worker was replaced
  const [a, b] = await Promise.all([invoke(t, 'spin'), invoke(t, 'spin')]);
  t.is(a.status, 'TIMEOUT');
  t.is(b.status, 'TIMEOUT');
  await stillServing(t);
});

test.serial('sleeping past the timeout is answered TIMEOUT when the function sleeps in poll_oneoff', async (t) => {
  const r = await invoke(t, 'sleep-forever');
  t.is(r.status, 'TIMEOUT');
  await stillServing(t);
});

test.serial('malloc bomb is answered LIMIT_EXCEEDED when malloc returns NULL at memory_mb and the program aborts', async (t) => {
  const r = await invoke(t, 'malloc-bomb');
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.is(r.errorCode, 'HAYATE_ERR_LIMIT_EXCEEDED');
  t.regex(r.errorMessage, /ran out of memory: memory reached [\d.]+ MiB of its cap of 32 MiB/);
  t.regex(Buffer.from(r.stderr).toString(), /malloc returned NULL after 3\d MiB/);
  await stillServing(t);
});

test.serial('malloc bomb is answered LIMIT_EXCEEDED when the program ignores NULL and writes through it', async (t) => {
  const r = await invoke(t, 'malloc-bomb-unchecked');
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.regex(r.errorMessage, /cap of 32 MiB/);
  await stillServing(t);
});

test.serial('a gigabyte of stdout is answered LIMIT_EXCEEDED at max_output_bytes without being buffered', async (t) => {
  const r = await invoke(t, 'output-flood');
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.regex(r.errorMessage, /more than max_output_bytes/);
  t.is(r.output.byteLength, 0);
  await stillServing(t);
  // a gigabyte held anywhere would show in the invoker's peak resident memory
  const peakKiB = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${t.context.pid}/status`, 'utf8'))?.[1]);
  t.log(`invoker peak RSS ${Math.round(peakKiB / 1024)} MiB`);
  t.true(peakKiB < 768 * 1024);
});

test.serial('a gigabyte of stderr is kept up to max_stderr_bytes and dropped beyond when the function succeeds', async (t) => {
  const r = await invoke(t, 'stderr-flood');
  t.is(r.status, 'OK');
  t.is(Buffer.from(r.output).toString(), 'done\n');
  t.is(r.stderr.byteLength, 1000);
  await stillServing(t);
});

test.serial('filling /tmp is answered LIMIT_EXCEEDED when writes fail with ENOSPC at memory_mb', async (t) => {
  const bytes = await invoke(t, 'disk-bomb');
  t.is(bytes.status, 'LIMIT_EXCEEDED');
  t.regex(bytes.errorMessage, /files written \(in \/tmp, or copies of bundle files\) reached their cap of 16 MiB/);
  t.regex(Buffer.from(bytes.stderr).toString(), /wrote 1\d MiB, then No space left on device/);
  const files = await invoke(t, 'file-bomb');
  t.is(files.status, 'LIMIT_EXCEEDED');
  t.regex(Buffer.from(files.stderr).toString(), /created \d+ files, then No space left on device/);
  await stillServing(t);
});

test.serial('opening descriptors without end stops at EMFILE when the table is full', async (t) => {
  const r = await invoke(t, 'fd-bomb');
  t.is(r.status, 'OK');
  t.is(Buffer.from(r.output).toString(), 'opened 1020 descriptors, then EMFILE\n');
  await stillServing(t);
});

test.serial('unbounded recursion is answered FUNCTION_ERROR as a trap when the stack runs out', async (t) => {
  const r = await invoke(t, 'recursion');
  t.is(r.status, 'FUNCTION_ERROR');
  t.is(r.errorCode, 'HAYATE_ERR_FUNCTION_TRAP');
  await stillServing(t);
});

test.serial('reading host files finds nothing when the path is absolute or escapes with ../', async (t) => {
  for (const path of ['/etc/passwd', '../../etc/passwd', '/tmp/../../../etc/shadow', '/proc/self/environ', '/var/run/docker.sock']) {
    const r = await invoke(t, 'cat', [path]);
    t.is(r.status, 'FUNCTION_ERROR', path);
    t.is(r.exitCode, 1, path);
    t.is(r.output.byteLength, 0, path);
    t.is(Buffer.from(r.stderr).toString(), `cat: ${path}: No such file or directory\n`);
  }
  await stillServing(t);
});

test.serial('socket calls fail with ENOTSOCK or EBADF when a function tries to accept, send or receive', async (t) => {
  const r = await invoke(t, 'socket');
  t.is(r.status, 'OK');
  const out = Buffer.from(r.output).toString();
  t.regex(out, /^accept\(0\) = -1 ENOTSOCK$/m);
  t.regex(out, /^send\(1, "x", 1, 0\) = -1 ENOTSOCK$/m);
  t.regex(out, /^sock_accept\(99\) = 8$/m);
  await stillServing(t);
});

test.serial('deploy refuses with 400 and the reason when a module imports a socket call WASI preview1 lacks', async (t) => {
  const err = await t.throwsAsync(t.context.cluster.client.deploy('wasix', buildFixture('hostile', 'wasix-socket')), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
  t.regex(err?.message ?? '', /imports function wasi_snapshot_preview1\.sock_open, which WASI preview1 does not have/);
});

test.serial('deploy refuses with 400 when the module needs more memory to start than memory_mb', async (t) => {
  const { client } = t.context.cluster;
  const err = await t.throwsAsync(client.deploy('big-static', buildFixture('hostile', 'big-static'), { memory_mb: 32 }), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
  t.regex(err?.message ?? '', /needs 65 MiB of memory to start and memory_mb is 32/);
  const ok = await client.deploy('big-static', buildFixture('hostile', 'big-static'), { memory_mb: 80 });
  t.is(ok['memory_mb'], 80);
});

test.serial('an answer larger than NATS max_payload comes back LIMIT_EXCEEDED when max_output_bytes allows it', async (t) => {
  const r = await invoke(t, 'big-output', ['10']);
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.regex(r.errorMessage, /answered 10485760 bytes of output and stderr, more than the NATS max_payload of 8388608 bytes/);
  t.is(r.output.byteLength, 0);
  const call = await t.context.cluster.nc.request('hayate.v1.call.big-output', Buffer.from(''), { timeout: 30_000 });
  t.is(call.headers?.get('Hayate-Status'), 'LIMIT_EXCEEDED');
  t.is(call.headers?.get('Hayate-Error-Code'), 'HAYATE_ERR_LIMIT_EXCEEDED');
  const small = await invoke(t, 'big-output', ['2']);
  t.is(small.status, 'OK');
  t.is(small.output.byteLength, 2 * MiB);
  await stillServing(t);
});

test.serial('max_concurrency runs one invocation of a function at a time when it is 1', async (t) => {
  const [first, second] = await Promise.all([invoke(t, 'held'), invoke(t, 'held')]);
  t.is(first?.status, 'TIMEOUT');
  t.is(second?.status, 'TIMEOUT');
  // one ran out its timeout_ms (600); the other waited at the gate although a worker was free, and its one
  // deadline (acceptance + timeout_ms) ran out while it waited: it is refused there (DEADLINE_EXCEEDED), or,
  // given the place in the same millisecond, starts and times out at once, after a wait of the first's run
  const waitedFirst = first.errorCode === 'HAYATE_ERR_DEADLINE_EXCEEDED' || (second.errorCode === 'HAYATE_ERR_TIMEOUT' && first.timings.queueUs > second.timings.queueUs);
  const [ran, waited] = waitedFirst ? [second, first] : [first, second];
  t.is(ran.errorCode, 'HAYATE_ERR_TIMEOUT');
  if (waited.errorCode === 'HAYATE_ERR_DEADLINE_EXCEEDED') t.regex(waited.errorMessage, /deadline passed after \d+ ms waiting for one of its max_concurrency slots/);
  else t.true(waited.timings.queueUs >= 300_000, `the second call waited ${waited.timings.queueUs} µs`);
});

test.serial('invoker answers OVERLOADED with 503 when its bound of pending invocations is reached', async (t) => {
  // HAYATE_MAX_PENDING=4: four are taken (one runs, three wait at max_concurrency 1), the rest refused at once
  const calls = Array.from({ length: 7 }, () => t.context.cluster.nc.request('hayate.v1.call.held', Buffer.from(''), { timeout: 30_000 }));
  const statuses = (await Promise.all(calls)).map((m) => m.headers?.get('Hayate-Status'));
  t.is(statuses.filter((s) => s === 'TIMEOUT').length, 4);
  t.is(statuses.filter((s) => s === 'OVERLOADED').length, 3);
  const refused = (await Promise.all(Array.from({ length: 5 }, () => t.context.cluster.nc.request('hayate.v1.call.held', Buffer.from(''), { timeout: 30_000 })))).find((m) => m.headers?.get('Hayate-Status') === 'OVERLOADED');
  t.is(refused?.headers?.get('Nats-Service-Error-Code'), '503');
  t.is(refused?.headers?.get('Hayate-Error-Code'), 'HAYATE_ERR_OVERLOADED');
  await stillServing(t);
});

test.serial('invoker answers OVERLOADED when the inputs it holds would pass HAYATE_MAX_PENDING_MB', async (t) => {
  const { nc } = t.context.cluster;
  const input = Buffer.alloc(700 * 1024, 'i');
  // the first is taken (nothing else is held), the second would hold 1.4 MiB of input with HAYATE_MAX_PENDING_MB=1
  const [first, second] = await Promise.all([nc.request('hayate.v1.call.held', input, { timeout: 30_000 }), nc.request('hayate.v1.call.held', input, { timeout: 30_000 })]);
  t.deepEqual([first.headers?.get('Hayate-Status'), second.headers?.get('Hayate-Status')].sort(), ['OVERLOADED', 'TIMEOUT']);
  const refused = first.headers?.get('Hayate-Status') === 'OVERLOADED' ? first : second;
  t.regex(refused.headers?.get('Nats-Service-Error') ?? '', /already holds 716800 bytes of input and answers kept for retries \(max 1048576\)/);
  await stillServing(t);
});
