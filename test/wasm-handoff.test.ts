/**
 * The hand-offs between the invoker's event loop and its WASM workers (issue 12): a compiled module travels
 * to each worker once (and again to a replacement worker), a module handed out ahead of its first call
 * (`preload`) and a first instance prepared ahead (`prepareAhead`) serve calls correctly, and a worker
 * ends a preparation in shared memory. Many concurrent calls of several functions with distinct inputs
 * each get their own answer; a worker terminated mid-run (its deadline) loses no other call.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import pino from 'pino';
import { capModuleMemory, importModuleMemory } from '../services/common/wasm-module';
import { WasmPool } from '../services/invoker/executors/wasm/pool';
import type { PoolRunMessage } from '../services/invoker/executors/wasm/pool';
import { buildFixture } from './helpers/c-fixtures';
import { exampleWasm } from './helpers/paths';

interface Compiled {
  module: WebAssembly.Module;
  pages: { min: number; max: number | null };
}

const test = anyTest as TestFn<{ upper: Compiled; rot13: Compiled; reverse: Compiled; spin: Compiled }>;
const MEMORY_MB = 16;

async function compile(bytes: Uint8Array): Promise<Compiled> {
  // as the invoker's module cache does: memory capped, then imported from the worker
  const imported = importModuleMemory(capModuleMemory(bytes, MEMORY_MB));
  return { module: await WebAssembly.compile(imported.bytes), pages: { min: imported.minPages, max: imported.maxPages } };
}

test.before(async (t) => {
  t.context.upper = await compile(readFileSync(exampleWasm('upper')));
  t.context.rot13 = await compile(readFileSync(exampleWasm('rot13')));
  t.context.reverse = await compile(readFileSync(exampleWasm('reverse')));
  t.context.spin = await compile(buildFixture('hostile', 'spin'));
});

function job(name: string, c: Compiled, input = ''): PoolRunMessage {
  return { digest: name, module: c.module, argv: [name], env: {}, input: Buffer.from(input), maxOutputBytes: 1 << 20, maxStderrBytes: 1 << 16, memoryLimitBytes: MEMORY_MB << 20, memoryPages: c.pages, files: null };
}

async function output(pool: WasmPool, msg: PoolRunMessage, signal = AbortSignal.timeout(30_000)): Promise<string> {
  const r = await pool.run(msg, signal, msg.digest);
  if (r.type !== 'result') return `<${r.type}>`;
  if (r.outcome.kind !== 'exited' || r.outcome.exitCode !== 0) return `<${JSON.stringify(r.outcome)}>`;
  return Buffer.from(r.stdout).toString();
}

async function until(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !condition(); i += 1) await new Promise((r) => setTimeout(r, 50));
  return condition();
}

const rot13 = (s: string) => s.replace(/[a-z]/gi, (c) => String.fromCharCode(((c.toLowerCase().charCodeAt(0) - 97 + 13) % 26) + (c <= 'Z' ? 65 : 97)));

test('300 concurrent calls of three functions, modules sent once per worker, each get their own answer', async (t) => {
  const { upper, rot13: r13, reverse } = t.context;
  const pool = new WasmPool(2, pino({ level: 'silent' }), { spares: 1 });
  await pool.start();
  try {
    const calls = Array.from({ length: 300 }, (_, i) => {
      const input = `call ${i} of the hand-off test`;
      if (i % 3 === 0) return output(pool, job('upper', upper, input)).then((out) => [out, input.toUpperCase()]);
      if (i % 3 === 1) return output(pool, job('rot13', r13, input)).then((out) => [out, rot13(input)]);
      return output(pool, job('reverse', reverse, `${input}\n`)).then((out) => [out.trim(), [...input].reverse().join('')]);
    });
    const results = await Promise.all(calls);
    t.is(results.filter(([got, want]) => got === want).length, 300, JSON.stringify(results.find(([got, want]) => got !== want)));
  } finally {
    await pool.close();
  }
});

test('a worker terminated mid-run loses no other call, and its replacement gets the modules again', async (t) => {
  const { upper, spin } = t.context;
  const pool = new WasmPool(2, pino({ level: 'silent' }), { spares: 1 });
  await pool.start();
  try {
    // every worker has run upper (its module is held there), then spinning runs are cut at their deadline
    await Promise.all(Array.from({ length: 6 }, (_, i) => output(pool, job('upper', upper, `warm ${i}`))));
    const spins = [pool.run(job('spin', spin), AbortSignal.timeout(300), 'spin'), pool.run(job('spin', spin), AbortSignal.timeout(300), 'spin')];
    const during = Array.from({ length: 40 }, (_, i) => output(pool, job('upper', upper, `during ${i}`)));
    t.deepEqual((await Promise.all(spins)).map((r) => r.type), ['timeout', 'timeout']);
    t.deepEqual(await Promise.all(during), Array.from({ length: 40 }, (_, i) => `DURING ${i}`));
    // the replacement workers never had upper: the pool must send it to them again
    const after = await Promise.all(Array.from({ length: 40 }, (_, i) => output(pool, job('upper', upper, `after ${i}`))));
    t.deepEqual(after, Array.from({ length: 40 }, (_, i) => `AFTER ${i}`));
    t.true(await until(() => pool.ready === 3), 'the pool is full again');
  } finally {
    await pool.close();
  }
});

test('a module handed to every worker ahead and a first instance prepared ahead serve the first calls, and evicted modules are sent again', async (t) => {
  const { upper, rot13: r13 } = t.context;
  const pool = new WasmPool(2, pino({ level: 'silent' }));
  await pool.start();
  try {
    const limit = MEMORY_MB << 20;
    pool.preload('upper', limit, upper.module);
    pool.prepareAhead({ digest: 'upper', argv: ['upper'], env: {}, memoryLimitBytes: limit, memoryPages: upper.pages, files: null });
    // the run messages carry no module now: the workers must use the one handed out ahead
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => output(pool, { ...job('upper', upper, `first ${i}`), module: undefined as unknown as WebAssembly.Module })));
    t.deepEqual(first, Array.from({ length: 20 }, (_, i) => `FIRST ${i}`));
    // a call of another function while a worker prepares upper is not lost either
    pool.prepareAhead({ digest: 'upper', argv: ['upper'], env: {}, memoryLimitBytes: limit, memoryPages: upper.pages, files: null });
    t.is(await output(pool, job('rot13', r13, 'abc')), 'nop');
    // evicted from the module cache: the workers drop it, and the next run sends it again
    pool.forgetModule('upper', limit);
    t.is(await output(pool, job('upper', upper, 'again')), 'AGAIN');
  } finally {
    await pool.close();
  }
});
