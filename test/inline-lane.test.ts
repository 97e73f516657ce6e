/**
 * Short WASM runs on the invoker's event-loop thread (issue 12): the fuel-metered copy of a module
 * (wasm-fuel.ts) and the lane that runs it (inline-lane.ts). Every answer must be what a worker run gives:
 * correct answers under concurrency, and a run that hits a bound of the lane (fuel, sleep, stack, files)
 * re-run on a worker with the worker's outcome, its function moved to the workers, other functions' calls
 * still answered on the lane meanwhile.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import pino from 'pino';
import type { FunctionSpec } from '../services/common/codec';
import type { FunctionName, InvocationId } from '../services/common/names';
import { digestOf } from '../services/common/store';
import { FUEL_EXPORT, INLINE_FUEL, meterModule } from '../services/common/wasm-fuel';
import { capModuleMemory, importModuleMemory } from '../services/common/wasm-module';
import type { ExecutionRequest, ExecutionResult } from '../services/invoker/executor';
import { WasmExecutor } from '../services/invoker/executors/wasm/wasm-executor';
import { ModuleCache } from '../services/invoker/module-cache';
import { buildFixture } from './helpers/c-fixtures';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ inline: WasmExecutor; workers: WasmExecutor }>;
const log = pino({ level: 'silent' });

const EXAMPLES = ['upper', 'sha256', 'reverse', 'wordcount', 'primes', 'rot13'];
const HOSTILE = ['spin', 'nap', 'recursion', 'disk-bomb', 'malloc-bomb', 'big-output', 'fd-bomb', 'byte-writes'];
const modules = new Map<string, Uint8Array>([...EXAMPLES.map((n) => [n, readFileSync(exampleWasm(n))] as const), ...HOSTILE.map((n) => [n, buildFixture('hostile', n)] as const)]);
const byDigest = new Map([...modules.values()].map((m) => [digestOf(m), m]));

function spec(name: string): FunctionSpec {
  const module = modules.get(name) as Uint8Array;
  return {
    name, digest: digestOf(module), moduleBytes: module.byteLength, version: 1, image: '', policy: 'wasm',
    memoryMb: 16, timeoutMs: 10_000, maxConcurrency: 0, maxInputBytes: 6 << 20, maxOutputBytes: 1 << 20, maxStderrBytes: 65536,
    args: [], env: {}, createdUnixMs: 0, minMemoryPages: 0, filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false,
  };
}

function request(name: string, input: string | Uint8Array = '', args: string[] = []): ExecutionRequest {
  const s = spec(name);
  return {
    invocationId: `inline-${Math.random().toString(36).slice(2)}` as InvocationId, fn: name as FunctionName, spec: s, input: typeof input === 'string' ? Buffer.from(input) : input, args, env: {},
    deadlineUnixMs: Date.now() + 10_000, memoryMb: s.memoryMb, maxOutputBytes: s.maxOutputBytes, maxStderrBytes: s.maxStderrBytes,
  };
}

test.before(async (t) => {
  t.context.inline = new WasmExecutor(new ModuleCache(64 << 20, async (d) => byDigest.get(d) as Uint8Array), 2, log);
  t.context.workers = new WasmExecutor(new ModuleCache(64 << 20, async (d) => byDigest.get(d) as Uint8Array), 2, log, { inline: false });
  await Promise.all([t.context.inline.start(), t.context.workers.start()]);
});

test.after.always(async (t) => {
  await Promise.all([t.context.inline?.close(), t.context.workers?.close()]);
});

/** What a caller sees of a result: outcome and output, not timings. */
function seen(r: ExecutionResult): string {
  return JSON.stringify({ outcome: r.outcome, stdout: createHash('sha256').update(r.stdout).digest('hex'), bytes: r.stdout.byteLength });
}

test.serial('meterModule gives each C example a metered copy that validates and exports its fuel, and none to a module with bulk memory', (t) => {
  for (const name of ['upper', 'sha256', 'reverse', 'wordcount', 'primes']) {
    const metered = meterModule(importModuleMemory(capModuleMemory(modules.get(name) as Uint8Array, 16)).bytes, INLINE_FUEL);
    t.not(metered, null, name);
    const exports = WebAssembly.Module.exports(new WebAssembly.Module(metered as Uint8Array<ArrayBuffer>));
    t.true(exports.some((e) => e.name === FUEL_EXPORT && e.kind === 'global'), name);
  }
  // AssemblyScript's rot13 uses memory.copy/fill, whose cost fuel cannot bound: it stays on the workers
  t.is(meterModule(importModuleMemory(capModuleMemory(modules.get('rot13') as Uint8Array, 16)).bytes, INLINE_FUEL), null);
});

test.serial('a metered infinite loop traps with its fuel below zero instead of running on', (t) => {
  // (func $l (loop (br 0))) exported as l
  const bytes = Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 7, 5, 1, 1, 108, 0, 0, 10, 9, 1, 7, 0, 3, 64, 12, 0, 11, 11]);
  const metered = meterModule(bytes, 1000);
  if (metered === null) return t.fail('not metered');
  const instance = new WebAssembly.Instance(new WebAssembly.Module(metered));
  t.throws(() => (instance.exports['l'] as () => void)(), { instanceOf: WebAssembly.RuntimeError, message: /unreachable/ });
  t.true(((instance.exports[FUEL_EXPORT] as WebAssembly.Global).value as number) < 0);
});

test.serial('300 concurrent calls of four functions with distinct inputs each get their own answer, the short ones on the event-loop thread', async (t) => {
  const { inline } = t.context;
  const before = { ...(inline.inline?.counts ?? { runs: 0, overruns: 0 }) };
  const calls = Array.from({ length: 300 }, (_, i) => {
    const text = `call ${i} ${'x'.repeat(i % 17)}`;
    const which = i % 4;
    if (which === 0) return { req: request('upper', text), want: text.toUpperCase() };
    if (which === 1) return { req: request('reverse', text), want: [...text].reverse().join('') };
    if (which === 2) return { req: request('sha256', text), want: createHash('sha256').update(text).digest('hex') };
    return { req: request('rot13', text), want: text.replace(/[a-z]/gi, (c) => String.fromCharCode(((c.toLowerCase().charCodeAt(0) - 97 + 13) % 26) + (c <= 'Z' ? 65 : 97))) };
  });
  const results = await Promise.all(calls.map((c) => inline.invoke(c.req, AbortSignal.timeout(30_000))));
  results.forEach((r, i) => {
    t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 }, `call ${i}`);
    t.is(Buffer.from(r.stdout).toString().trim(), (calls[i] as { want: string }).want.trim(), `call ${i}`);
  });
  const after = inline.inline?.counts ?? { runs: 0, overruns: 0 };
  // upper, reverse and sha256 of short inputs run inline, rot13 (bulk memory) on the workers; not all 225
  // need have: on a loaded machine a preempted run may pass its host deadline and move its function away
  t.true(after.runs - before.runs > 0, `${after.runs - before.runs} runs inline`);
});

test.serial('each hostile module answers as on the workers: a run that hits a bound of the lane is run again on a worker', async (t) => {
  const { inline, workers } = t.context;
  for (const name of HOSTILE) {
    const timeout = name === 'spin' ? 400 : 10_000;
    const [a, b] = await Promise.all([inline.invoke(request(name), AbortSignal.timeout(timeout)), workers.invoke(request(name), AbortSignal.timeout(timeout))]);
    t.is(seen(a), seen(b), name);
  }
  // the spinning and the sleeping functions now run on the workers for a while (the recursion's trap, on its
  // own stack in linear memory, is the same anywhere); upper still inline
  for (const name of ['spin', 'nap']) t.false(inline.inline?.takes(name), name);
  t.true(inline.inline?.takes('upper'));
});

test.serial('calls of a short function are answered inline while a spinning one moves to a worker and runs out its timeout there', async (t) => {
  const { inline } = t.context;
  const lane = inline.inline;
  if (lane === null) return t.fail('no lane');
  const spinning = inline.invoke(request('spin'), AbortSignal.timeout(5_000));
  let spinDone = false;
  spinning.then(
    () => (spinDone = true),
    () => (spinDone = true),
  );
  const before = lane.counts.runs;
  for (let i = 0; i < 50; i += 1) {
    const text = `one two ${'three '.repeat(i % 5)}${i}`;
    const [r, w] = await Promise.all([inline.invoke(request('wordcount', text), AbortSignal.timeout(10_000)), t.context.workers.invoke(request('wordcount', text), AbortSignal.timeout(10_000))]);
    t.is(seen(r), seen(w), text);
  }
  t.false(spinDone, 'the short calls were all answered while the spinning call still ran on its worker');
  // all 50 on an idle machine; on a loaded one a preempted run may pass its host deadline and move wordcount away
  t.true(lane.counts.runs - before > 0, `${lane.counts.runs - before} of 50 inline`);
  const spun = await spinning;
  t.is(spun.outcome.kind, 'timeout');
});

test.serial('the lane pauses itself for a while when many functions have their runs abandoned in a short time', async (t) => {
  const { compileForRun } = await import('../services/common/module-worker');
  const { InlineLane } = await import('../services/invoker/executors/wasm/inline-lane');
  const spin = await compileForRun(modules.get('spin') as Uint8Array, 16);
  if (spin.fueled === null) return t.fail('spin was not metered');
  const lane = new InlineLane(log);
  for (let i = 0; i <= 20; i += 1) {
    t.true(lane.takes(`spin-${i}`), `spin-${i}`);
    const r = lane.run(`spin-${i}`, { digest: 'spin', argv: ['spin'], env: {}, input: new Uint8Array(0), maxOutputBytes: 1 << 20, maxStderrBytes: 1 << 16, memoryLimitBytes: 16 << 20, memoryPages: spin.memory, files: null }, spin.fueled);
    t.is(r, null, `spin-${i} was abandoned`);
  }
  t.is(lane.counts.overruns, 21);
  t.false(lane.takes('upper'), 'after 21 abandoned runs within 10 s, no function runs on the event-loop thread for a while');
});

test.serial('a run that passes its host deadline (a stall of the machine, made here by a clock that jumps) is run again on a worker, and its function is moved only the second time', async (t) => {
  const { compileForRun } = await import('../services/common/module-worker');
  const { InlineLane } = await import('../services/invoker/executors/wasm/inline-lane');
  const { hostDeadline } = await import('../services/invoker/executors/wasm/wasi/guest-memory');
  const upper = await compileForRun(modules.get('upper') as Uint8Array, 16);
  const spin = await compileForRun(modules.get('spin') as Uint8Array, 16);
  if (upper.fueled === null || spin.fueled === null) return t.fail('not metered');
  const lane = new InlineLane(log);
  const message = (digest: string, memory: typeof upper.memory) => ({ digest, argv: [digest], env: {}, input: Buffer.from('stall'), maxOutputBytes: 1 << 20, maxStderrBytes: 1 << 16, memoryLimitBytes: 16 << 20, memoryPages: memory, files: null });
  const realNow = performance.now.bind(performance);
  let stall = false;
  // while armed, the clock reads past any host deadline that is set: the run's first WASI call finds it passed
  performance.now = () => (stall && hostDeadline.at !== 0 ? hostDeadline.at + 1 : realNow());
  const run = (armed: boolean) => {
    stall = armed;
    try {
      return lane.run('upper', message('upper', upper.memory), upper.fueled as WebAssembly.Module);
    } finally {
      stall = false;
    }
  };
  try {
    const ok = run(false);
    t.is(Buffer.from(ok?.type === 'result' ? ok.stdout : []).toString(), 'STALL');
    t.is(run(true), null, 'the stalled run is abandoned (the caller runs it on a worker)');
    t.true(lane.takes('upper'), 'one stall does not move the function');
    const again = run(false);
    t.is(again?.type, 'result', 'and its next call is answered on the lane');
    t.is(run(true), null);
    t.false(lane.takes('upper'), 'a second stall within the window moves it to the workers');
    t.is(lane.counts.overruns, 2);
    // fuel is the function's own doing: moved at once
    t.is(lane.run('spin', message('spin', spin.memory), spin.fueled), null);
    t.false(lane.takes('spin'));
  } finally {
    performance.now = realNow;
  }
});
