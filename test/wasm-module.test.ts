import { readFileSync } from 'node:fs';
import test from 'ava';
import { HayateError } from '../services/common/errors';
import { capModuleMemory, inspectModule, PAGES_PER_MIB } from '../services/common/wasm-module';
import { exampleWasm } from './helpers/paths';

const upper = readFileSync(exampleWasm('upper'));

test('inspectModule reads the declared memory minimum when the module is a WASI command', (t) => {
  const shape = inspectModule(upper);
  t.true(shape.minMemoryPages >= 1);
});

test('capModuleMemory sets a maximum of memory_mb when the module declares none', (t) => {
  const capped = capModuleMemory(upper, 64);
  t.true(WebAssembly.validate(capped));
  t.is(inspectModule(capped).maxMemoryPages, 64 * PAGES_PER_MIB);
  const memory = new WebAssembly.Instance(new WebAssembly.Module(capped), stubImports(capped)).exports['memory'] as WebAssembly.Memory;
  t.throws(() => memory.grow(64 * PAGES_PER_MIB), { instanceOf: RangeError });
});

test('capModuleMemory refuses with LIMIT_EXCEEDED when the module needs more than memory_mb to start', (t) => {
  const pages = inspectModule(upper).minMemoryPages;
  const tooSmall = Math.floor(pages / PAGES_PER_MIB) - 1;
  if (tooSmall < 1) {
    // the module starts in under 2 MiB: every cap of 1 MiB or more admits it
    t.notThrows(() => capModuleMemory(upper, 1));
    return;
  }
  const err = t.throws(() => capModuleMemory(upper, tooSmall), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_LIMIT_EXCEEDED');
});

test('inspectModule refuses with INVALID_MODULE when the bytes are not WebAssembly', (t) => {
  const err = t.throws(() => inspectModule(Buffer.from('\0asm garbage')), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
});

function stubImports(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Imports {
  const imports: Record<string, Record<string, () => number>> = {};
  for (const i of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    (imports[i.module] ??= {})[i.name] = () => 0;
  }
  return imports;
}
