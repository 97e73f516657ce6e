/**
 * One conformance suite, run against both executors: the same program (WASM module / native image of the
 * same C source) must give the same output, exit code, stderr and limits in either tier.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import pino from 'pino';
import type { FunctionSpec } from '../services/common/codec';
import type { FunctionName, InvocationId } from '../services/common/names';
import type { ExecutionRequest, Executor } from '../services/invoker/executor';
import { ContainerExecutor, DEFAULT_WATCHDOG } from '../services/invoker/executors/container/container-executor';
import { invocationSignal } from '../services/invoker/executor';
import { WasmExecutor } from '../services/invoker/executors/wasm/wasm-executor';
import { ModuleCache } from '../services/invoker/module-cache';
import { digestOf } from '../services/common/store';
import type { DeclareTest } from './helpers/docker';
import { dockerMissingReason, dockerOrReason, withDocker } from './helpers/docker';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ executors: Record<string, Executor> }>;
const log = pino({ level: 'silent' });
const EXAMPLES = ['upper', 'env-echo', 'sha256', 'primes', 'sleep'];
const modules = new Map(EXAMPLES.map((n) => [n, readFileSync(exampleWasm(n))]));
const byDigest = new Map([...modules.values()].map((m) => [digestOf(m), m]));
const invokerId = `conformance-${process.pid}`;

function spec(name: string, over: Partial<FunctionSpec> = {}): FunctionSpec {
  const module = modules.get(name)!;
  return {
    name, digest: digestOf(module), moduleBytes: module.byteLength, version: 1, image: `hayate-example/${name}:latest`, policy: 'auto',
    memoryMb: 64, timeoutMs: 10_000, maxConcurrency: 0, maxInputBytes: 6 << 20, maxOutputBytes: 6 << 20, maxStderrBytes: 65536,
    args: [], env: {}, createdUnixMs: 0, minMemoryPages: 0, filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false, ...over,
  };
}

function request(name: string, over: Partial<ExecutionRequest> = {}): ExecutionRequest {
  const s = over.spec ?? spec(name);
  return {
    invocationId: `conf-${Math.random().toString(36).slice(2)}` as InvocationId, fn: name as FunctionName, spec: s, input: new Uint8Array(0), args: [], env: {},
    deadlineUnixMs: Date.now() + 10_000, memoryMb: s.memoryMb, maxOutputBytes: s.maxOutputBytes, maxStderrBytes: s.maxStderrBytes, ...over,
  };
}

test.before(async (t) => {
  const cache = new ModuleCache(64 << 20, async (d) => byDigest.get(d)!);
  const wasm = new WasmExecutor(cache, 2, log);
  await wasm.start();
  t.context.executors = { wasm };
  if (dockerMissingReason() !== null) return; // the container tests are declared skipped (or failing under CI)
  const probe = await dockerOrReason();
  if (!('docker' in probe)) throw new Error(probe.reason);
  t.context.executors['container'] = new ContainerExecutor(probe.docker, { invokerId, watchdogPath: DEFAULT_WATCHDOG, runtimeDir: join(tmpdir(), `hy-conf-${process.pid}`) }, log);
});

test.after.always(async (t) => {
  for (const e of Object.values(t.context.executors ?? {})) await e.close();
});

const never = new AbortController().signal;

/** Container tests: skipped with the reason when Docker cannot run here, failed when it cannot under CI=true. */
const containerTest = withDocker(test);

function eachTier(title: string, body: (t: ExecutionContext<{ executors: Record<string, Executor> }>, e: Executor) => Promise<void>): void {
  for (const tier of ['wasm', 'container']) {
    const declare: DeclareTest<{ executors: Record<string, Executor> }> = tier === 'container' ? containerTest : test;
    declare(`${tier} executor ${title}`, async (t) => {
      const e = t.context.executors[tier];
      if (e === undefined) throw new Error(`no ${tier} executor was set up`);
      await body(t, e);
    });
  }
}

eachTier('returns the program stdout and exit code 0 when it succeeds', async (t, e) => {
  const r = await e.invoke(request('upper', { input: Buffer.from('Mixed Case 123') }), never);
  t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
  t.is(Buffer.from(r.stdout).toString(), 'MIXED CASE 123');
  t.is(r.tier, e.tier);
});

eachTier('passes args, env and stdin and returns stderr and the exit code when the program exits non-zero', async (t, e) => {
  const r = await e.invoke(request('env-echo', { input: Buffer.from('in'), args: ['a b', 'c'], env: { HAYATE_TEST_X: '1', EXIT_CODE: '7' } }), never);
  t.deepEqual(r.outcome, { kind: 'exited', exitCode: 7 });
  t.is(Buffer.from(r.stdout).toString(), 'a b\nc\n--\nHAYATE_TEST_X=1\nin');
  t.is(Buffer.from(r.stderr).toString(), 'stderr-line\n');
});

eachTier('hashes a 1 MiB input exactly as node:crypto when given binary stdin', async (t, e) => {
  const input = Buffer.alloc(1 << 20);
  for (let i = 0; i < input.length; i += 1) input[i] = (i * 7919) & 0xff;
  const r = await e.invoke(request('sha256', { input }), never);
  t.is(Buffer.from(r.stdout).toString().trim(), createHash('sha256').update(input).digest('hex'));
});

eachTier('gives the same answer for an argument-driven computation when given an arg', async (t, e) => {
  const r = await e.invoke(request('primes', { args: ['100000'] }), never);
  t.is(Buffer.from(r.stdout).toString().trim(), '9592');
});

eachTier('ends the run with a timeout outcome when it runs past its deadline', async (t, e) => {
  const late = request('sleep', { args: ['5000'], deadlineUnixMs: Date.now() + 300 });
  const r = await e.invoke(late, invocationSignal(late.deadlineUnixMs).signal);
  t.is(r.outcome.kind, 'timeout');
  const after = await e.invoke(request('upper', { input: Buffer.from('still serving') }), never);
  t.is(Buffer.from(after.stdout).toString(), 'STILL SERVING');
});

eachTier('stops the run with an output-limit outcome when stdout passes maxOutputBytes', async (t, e) => {
  const r = await e.invoke(request('upper', { input: Buffer.alloc(200_000, 0x61), maxOutputBytes: 1000 }), never);
  t.deepEqual(r.outcome, { kind: 'output-limit', stream: 'stdout' });
});

eachTier('truncates stderr at maxStderrBytes when the program writes more', async (t, e) => {
  const r = await e.invoke(request('env-echo', { maxStderrBytes: 6 }), never);
  t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
  t.is(Buffer.from(r.stderr).toString(), 'stderr');
});

eachTier('stops the run when its signal aborts', async (t, e) => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await e.invoke(request('sleep', { args: ['5000'] }), ac.signal);
  t.is(r.outcome.kind, 'timeout');
});
