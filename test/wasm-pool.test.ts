/**
 * The WASM worker pool with real worker threads: a run that overruns is stopped by terminating its worker,
 * and the pool starts a replacement, so it is full again and keeps serving.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import pino from 'pino';
import { capModuleMemory, importModuleMemory } from '../services/common/wasm-module';
import { WasmPool } from '../services/invoker/executors/wasm/pool';
import type { PoolRunMessage } from '../services/invoker/executors/wasm/pool';
import { buildFixture } from './helpers/c-fixtures';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ pool: WasmPool; spin: WebAssembly.Module; upper: WebAssembly.Module }>;
const MEMORY_MB = 16;

test.before(async (t) => {
  t.context.pool = new WasmPool(2, pino({ level: 'silent' }));
  await t.context.pool.start();
  // compiled as the invoker's module cache does: memory capped, then imported from the worker
  const compile = async (bytes: Uint8Array) => {
    const imported = importModuleMemory(capModuleMemory(bytes, MEMORY_MB));
    const module = await WebAssembly.compile(imported.bytes);
    pages.set(module, { min: imported.minPages, max: imported.maxPages });
    return module;
  };
  t.context.spin = await compile(buildFixture('hostile', 'spin'));
  t.context.upper = await compile(readFileSync(exampleWasm('upper')));
});

test.after.always(async (t) => {
  await t.context.pool?.close();
});

const pages = new Map<WebAssembly.Module, { min: number; max: number | null }>();

function job(name: string, module: WebAssembly.Module, input = ''): PoolRunMessage {
  const memoryPages = pages.get(module) ?? { min: 1, max: null };
  return { digest: name, module, argv: [name], env: {}, input: Buffer.from(input), maxOutputBytes: 1 << 20, maxStderrBytes: 1 << 16, memoryLimitBytes: MEMORY_MB << 20, memoryPages, files: null };
}

async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !condition(); i += 1) await sleep(50);
  return condition();
}

test.serial('wasm pool replaces each worker it terminated when runs overrun their deadline', async (t) => {
  const { pool, spin, upper } = t.context;
  // both workers spin; the upper run waits in the queue and is served by a replacement worker
  const spins = [pool.run(job('spin', spin), AbortSignal.timeout(300)), pool.run(job('spin', spin), AbortSignal.timeout(300))];
  const served = pool.run(job('upper', upper, 'queued'), AbortSignal.timeout(10_000));
  t.deepEqual((await Promise.all(spins)).map((r) => r.type), ['timeout', 'timeout']);
  const r = await served;
  t.is(r.type, 'result');
  if (r.type === 'result') {
    t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
    t.is(Buffer.from(r.stdout).toString(), 'QUEUED');
  }
  t.true(await until(() => pool.ready === 2), `ready workers: ${pool.ready}`);
});

test.serial('wasm pool is full again when many runs in a row were stopped', async (t) => {
  const { pool, spin, upper } = t.context;
  for (let i = 0; i < 4; i += 1) {
    const stopped = new AbortController();
    const run = pool.run(job('spin', spin), stopped.signal);
    stopped.abort();
    t.is((await run).type, 'timeout');
    t.is((await pool.run(job('spin', spin), AbortSignal.timeout(100))).type, 'timeout');
  }
  t.true(await until(() => pool.ready === 2), `ready workers: ${pool.ready}`);
  t.is(pool.workers, 2);
  const outputs = await Promise.all(['a', 'b', 'c'].map(async (s) => pool.run(job('upper', upper, s), AbortSignal.timeout(10_000))));
  t.deepEqual(outputs.map((o) => (o.type === 'result' ? Buffer.from(o.stdout).toString() : o.type)), ['A', 'B', 'C']);
});

test.serial('wasm pool starts another function at once on a spare worker when one function holds every worker', async (t) => {
  const { spin, upper } = t.context;
  const pool = new WasmPool(2, pino({ level: 'silent' }), { spares: 1 });
  await pool.start();
  try {
    const hold = new AbortController();
    const spins = [pool.run(job('spin', spin), hold.signal, 'hog'), pool.run(job('spin', spin), hold.signal, 'hog')];
    // the hog may not take the spare itself: a third run of it waits for one of its own two
    const third = pool.run(job('spin', spin), hold.signal, 'hog');
    let spinsEnded = false;
    void Promise.all(spins).then(() => (spinsEnded = true));
    const served = await pool.run(job('upper', upper, 'neighbour'), AbortSignal.timeout(60_000), 'neighbour');
    t.is(served.type, 'result');
    if (served.type === 'result') t.is(Buffer.from(served.stdout).toString(), 'NEIGHBOUR');
    t.false(spinsEnded, 'the neighbour was served while the hog still held both workers');
    hold.abort();
    t.deepEqual((await Promise.all([...spins, third])).map((r) => r.type), ['timeout', 'timeout', 'timeout']);
  } finally {
    await pool.close();
  }
});

test.serial('large inputs the caller owns are moved to the workers, and each of many concurrent runs answers its own', async (t) => {
  const { pool, upper } = t.context;
  // 1 MiB inputs (moved) and small ones (copied), each run its own bytes, all at once on 2 workers
  const inputs = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? `small ${i}` : `${String.fromCharCode(97 + i)}`.repeat(1 << 20)));
  const messages = inputs.map((input) => job('upper', upper, input));
  const results = await Promise.all(messages.map((m) => pool.run(m, AbortSignal.timeout(60_000), 'upper', { moveInput: true })));
  results.forEach((r, i) => {
    if (r.type !== 'result') return t.fail(`run ${i} answered ${r.type}`);
    t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
    t.is(Buffer.from(r.stdout).toString(), inputs[i]!.toUpperCase(), `run ${i} got its own output`);
  });
  // moved: the caller's buffer is empty now; a small one was copied and is left as it was
  t.is(messages[1]!.input.byteLength, 0);
  t.is(messages[0]!.input.byteLength, inputs[0]!.length);
  // not the caller's own (the default): a large input is copied and stays
  const kept = job('upper', upper, 'k'.repeat(1 << 20));
  const r = await pool.run(kept, AbortSignal.timeout(60_000), 'upper');
  t.is(r.type === 'result' ? Buffer.from(r.stdout).toString() : r.type, 'K'.repeat(1 << 20));
  t.is(kept.input.byteLength, 1 << 20);
});
