/**
 * Host memory per call (issue 11 §2): whatever a function hands the WASI host, one call costs the process
 * at most memory_mb + max_output_bytes + max_stderr_bytes + a small constant. The hostile programs of
 * test/fixtures/hostile/ run through the real executor, pool and worker thread of this process; its peak
 * resident memory (VmHWM, reset before each call through /proc/self/clear_refs) is what is asserted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import pino from 'pino';
import type { FunctionSpec } from '../services/common/codec';
import type { FunctionName, InvocationId } from '../services/common/names';
import { digestOf } from '../services/common/store';
import type { ExecutionResult } from '../services/invoker/executor';
import { WasmExecutor } from '../services/invoker/executors/wasm/wasm-executor';
import { ModuleCache } from '../services/invoker/module-cache';
import { buildFixture } from './helpers/c-fixtures';

const test = anyTest as TestFn<{ wasm: WasmExecutor }>;
const MiB = 1024 * 1024;
/** What a call may cost beyond its limits: V8's young generation, code, GC slack. */
const CONSTANT_BYTES = 64 * MiB;

const modules = new Map<string, Buffer>();
for (const name of ['iovec-bomb', 'byte-writes']) modules.set(digestOf(buildFixture('hostile', name)), buildFixture('hostile', name));
const digestOfFixture = (name: string): string => digestOf(buildFixture('hostile', name));

test.before(async (t) => {
  t.context.wasm = new WasmExecutor(
    new ModuleCache(1 << 28, async (digest) => {
      const bytes = modules.get(digest);
      if (bytes === undefined) throw new Error(`no module ${digest}`);
      return bytes;
    }),
    1,
    pino({ level: 'silent' }),
  );
  await t.context.wasm.start();
});

test.after.always(async (t) => {
  await t.context.wasm?.close();
});

function peakRssBytes(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
}

interface Limits {
  memoryMb: number;
  maxOutputBytes: number;
  maxStderrBytes: number;
}

let seq = 0;

/** Runs a fixture once with `limits`; returns its result and the process's peak RSS growth during the call. */
async function measured(t: ExecutionContext<{ wasm: WasmExecutor }>, name: string, limits: Limits, args: string[] = []): Promise<{ r: ExecutionResult; growth: number }> {
  const digest = digestOfFixture(name);
  const spec = { name, digest, version: 1, args: [], env: {}, filesDigest: '' } as unknown as FunctionSpec;
  const call = () => {
    seq += 1;
    return t.context.wasm.invoke(
      { invocationId: `mem-${seq}` as InvocationId, fn: name as FunctionName, spec, input: new Uint8Array(16), args, env: {}, deadlineUnixMs: Date.now() + 120_000, ...limits },
      new AbortController().signal,
    );
  };
  // resident memory before: the module compiled, the worker warm
  writeFileSync('/proc/self/clear_refs', '5');
  const before = peakRssBytes();
  const r = await call();
  const growth = peakRssBytes() - before;
  t.log(`${name}: peak RSS grew ${(growth / MiB).toFixed(1)} MiB (bound ${((limits.memoryMb * MiB + limits.maxOutputBytes + limits.maxStderrBytes + CONSTANT_BYTES) / MiB).toFixed(0)} MiB)`);
  return { r, growth };
}

const DEFAULTS: Limits = { memoryMb: 128, maxOutputBytes: 6 * MiB, maxStderrBytes: 64 * 1024 };
const bound = (l: Limits): number => l.memoryMb * MiB + l.maxOutputBytes + l.maxStderrBytes + CONSTANT_BYTES;

test.serial('WASI host answers EINVAL past IOV_MAX and holds nothing per iovec when a call passes 15 Mi iovecs', async (t) => {
  const { r, growth } = await measured(t, 'iovec-bomb', DEFAULTS);
  t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
  t.is(
    Buffer.from(r.stdout).toString(),
    [...['fd_write', 'fd_read', 'fd_pwrite', 'fd_pread'].map((c) => `${c} of 15728640 iovecs: 28`), 'fd_write of 1024 iovecs: 0, 0 bytes', 'first iovec length 0', ''].join('\n'),
  );
  t.true(growth < bound(DEFAULTS), `grew ${growth} bytes`);
});

test.serial('WASI host keeps stdout in one buffer within max_output_bytes when a function writes 6 MiB one byte at a time', async (t) => {
  const { r, growth } = await measured(t, 'byte-writes', DEFAULTS);
  t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
  t.is(r.stdout.byteLength, 6 * MiB);
  t.is(Buffer.from(r.stdout.subarray(0, 27)).toString(), 'abcdefghijklmnopqrstuvwxyza');
  t.true(growth < bound(DEFAULTS), `grew ${growth} bytes`);
});

test.serial('WASI host stops a byte-at-a-time writer with output-limit within its bounds when max_output_bytes is 24 MiB', async (t) => {
  const limits = { memoryMb: 16, maxOutputBytes: 24 * MiB, maxStderrBytes: 64 * 1024 };
  const { r, growth } = await measured(t, 'byte-writes', limits, ['32']);
  t.deepEqual(r.outcome, { kind: 'output-limit', stream: 'stdout' });
  t.true(growth < bound(limits), `grew ${growth} bytes`);
});
