/**
 * The WASM pool reuses a finished run's memory (zeroed) for the next run of the same module: nothing of one
 * run may be visible to the next.
 */
import anyTest from 'ava';
import type { TestFn } from 'ava';
import pino from 'pino';
import type { FunctionSpec } from '../services/common/codec';
import type { FunctionName, InvocationId } from '../services/common/names';
import { digestOf } from '../services/common/store';
import { WasmExecutor } from '../services/invoker/executors/wasm/wasm-executor';
import { ModuleCache } from '../services/invoker/module-cache';
import { buildFixture } from './helpers/c-fixtures';

const test = anyTest as TestFn<{ wasm: WasmExecutor }>;
const leftovers = buildFixture('reuse', 'leftovers');
const digest = digestOf(leftovers);

test.before(async (t) => {
  // one worker: every run lands on the same thread, where memories are reused
  t.context.wasm = new WasmExecutor(new ModuleCache(1 << 26, async () => leftovers), 1, pino({ level: 'silent' }));
  await t.context.wasm.start();
});

test.after.always(async (t) => {
  await t.context.wasm?.close();
});

test('wasm executor starts each run with zeroed static data, heap and original data segments when runs reuse memory', async (t) => {
  const spec = { name: 'leftovers', digest, version: 1, args: [], env: {}, filesDigest: '' } as unknown as FunctionSpec;
  for (let i = 0; i < 20; i += 1) {
    const r = await t.context.wasm.invoke(
      { invocationId: `reuse-${i}` as InvocationId, fn: 'leftovers' as FunctionName, spec, input: new Uint8Array(0), args: [], env: {}, deadlineUnixMs: Date.now() + 5000, memoryMb: 64, maxOutputBytes: 1 << 20, maxStderrBytes: 1 << 16 },
      new AbortController().signal,
    );
    t.is(Buffer.from(r.stdout).toString(), 'clean\n', `run ${i}`);
    t.deepEqual(r.outcome, { kind: 'exited', exitCode: 0 });
  }
});
