/**
 * Bounds on what a module makes the host allocate outside its memory (issue 11, finding 1): measured on the
 * bytes, before anything is compiled, against bounds derived from memory_mb.
 */
import { readFileSync } from 'node:fs';
import test from 'ava';
import { HayateError } from '../services/common/errors';
import { asBufferSource } from '../services/common/wasm-module';
import { capModuleTables, checkModuleBounds, measureModule, moduleBounds } from '../services/common/module-bounds';
import { exampleWasm } from './helpers/paths';
import { HAVE_WAT2WASM, tableBomb, wat } from './helpers/wat';

const watTest = HAVE_WAT2WASM ? test : test.skip;
if (!HAVE_WAT2WASM) console.warn('module-bounds: wat2wasm missing (apt-get install wabt): hand-written modules skipped');

const withBody = (body: string) => wat(`(module (memory (export "memory") 1) (func (export "_start"))\n${body})`);

function refusal(t: import('ava').ExecutionContext, bytes: Uint8Array, memoryMb: number): string {
  const err = t.throws(() => checkModuleBounds(bytes, memoryMb, 'deploy function'), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
  return err?.message ?? '';
}

watTest('module bounds refuse the 414-byte table bomb naming table entries when memory_mb is the default', (t) => {
  const bomb = tableBomb();
  t.is(bomb.byteLength, 414);
  const f = measureModule(bomb);
  t.is(f.tables, 60);
  t.is(f.tableEntries, 600_000_000);
  const message = refusal(t, bomb, 128);
  t.regex(message, /600000000 table entries and memory_mb=128 allows at most 1048576/);
});

test('module bounds accept the examples when memory_mb is 16', (t) => {
  for (const name of ['upper', 'wordcount']) t.notThrows(() => checkModuleBounds(readFileSync(exampleWasm(name)), 16, 'deploy function'), name);
});

watTest('module bounds refuse each kind of host allocation when it passes its bound', (t) => {
  const b = moduleBounds(1);
  const passive = Array.from({ length: b.elementEntries + 1 }, () => '(ref.null func)').join(' ');
  const cases: [string, string, RegExp][] = [
    ['globals', Array.from({ length: b.globals + 1 }, (_, i) => `(global $g${i} i32 (i32.const ${i}))`).join(' '), /257 globals .* \(memory_mb × 256\)/],
    ['functions', Array.from({ length: b.functions }, () => '(func)').join(' '), /1025 functions/],
    ['element entries', `(elem funcref ${passive})`, /8193 element segment entries/],
    ['data', `(data "${'x'.repeat(b.dataBytes + 1)}")`, /1048577 bytes of data segments/],
    ['tables', Array.from({ length: b.tables + 1 }, () => '(table 0 funcref)').join(' '), /101 tables/],
  ];
  for (const [what, body, expected] of cases) t.regex(refusal(t, withBody(body), 1), expected, what);
});

watTest('module bounds count a table without a maximum at its minimum and capModuleTables stops it growing when the invoker runs it', (t) => {
  const growable = withBody('(table $t 1 funcref) (func (export "grow") (result i32) (table.grow $t (ref.null func) (i32.const 5000000)))');
  t.is(measureModule(growable).tableEntries, 1);
  const grow = (bytes: Uint8Array) => (new WebAssembly.Instance(new WebAssembly.Module(asBufferSource(bytes))).exports['grow'] as () => number)();
  t.is(grow(growable), 1, 'V8 lets an unbounded table grow by millions of entries');
  t.is(grow(capModuleTables(growable)), -1);
  const bounded = withBody('(table $t 1 64 funcref)');
  t.is<Uint8Array, Uint8Array>(capModuleTables(bounded), bounded, 'tables with a maximum are left as they are');
});

test('module bounds refuse with INVALID_MODULE when counts run past the end of the bytes', (t) => {
  // an element section claiming 2^28 entries in a 20-byte module: an invoker measures before validating
  const bytes = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 9, 7, 1, 1, 0, 0x80, 0x80, 0x80, 0x80, 0x01]);
  const err = t.throws(() => measureModule(bytes), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_MODULE');
});
