/**
 * Hand-written test modules: WebAssembly text compiled with wabt's `wat2wasm` (Debian `wabt`, installed by
 * scripts/setup.sh), for modules C cannot express (a start section, sixty tables). Built once per text
 * under build/test-fixtures/wat/.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leb } from './modules';
import { ROOT } from './paths';

/** True when `wat2wasm` can run here; tests that need it skip visibly otherwise. */
export const HAVE_WAT2WASM = ((): boolean => {
  try {
    execFileSync('wat2wasm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * The module of a WebAssembly text.
 * @throws Error with wat2wasm's output when the text does not assemble
 */
export function wat(source: string): Buffer {
  const dir = join(ROOT, 'build', 'test-fixtures', 'wat');
  const name = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const out = join(dir, `${name}.wasm`);
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    const src = join(dir, `${name}.wat`);
    writeFileSync(src, source);
    execFileSync('wat2wasm', ['--enable-all', src, '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return readFileSync(out);
}

/** The 414-byte module of issue 11: 60 tables of 10,000,000 funcref (≈10 GB for V8 once instantiated). */
export function tableBomb(tables = 60, entries = 10_000_000): Buffer {
  const decls = Array.from({ length: tables }, (_, i) => `(table $t${i} ${entries} funcref)`).join('\n  ');
  return wat(`(module (memory (export "memory") 1)\n  ${decls}\n  (func (export "_start")))\n`);
}

/**
 * A compile bomb of issue 11: a WASI command whose passive data segment holds `bytes` bytes (V8 spends
 * about 1–2 s of one thread validating and compiling 60 MB of it). Written as bytes: a wat file would be
 * as large.
 */
export function bigDataModule(bytes: number): Buffer {
  const section = (id: number, body: Buffer) => Buffer.concat([Buffer.from([id, ...leb(body.length)]), body]);
  const name = (s: string) => [...leb(s.length), ...Buffer.from(s)];
  return Buffer.concat([
    Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    section(1, Buffer.from([1, 0x60, 0, 0])), // type () -> ()
    section(3, Buffer.from([1, 0])), // one function
    section(5, Buffer.from([1, 0, 1])), // memory of one page
    section(7, Buffer.from([2, ...name('memory'), 2, 0, ...name('_start'), 0, 0])),
    section(12, Buffer.from([1])), // data count
    section(10, Buffer.from([1, 2, 0, 0x0b])), // _start: nothing
    section(11, Buffer.concat([Buffer.from([1, 1, ...leb(bytes)]), Buffer.alloc(bytes, 7)])), // one passive segment
  ]);
}
