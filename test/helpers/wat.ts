/**
 * Hand-written test modules: WebAssembly text compiled with wabt's `wat2wasm` (Debian `wabt`, installed by
 * scripts/setup.sh), for modules C cannot express (a start section, sixty tables). Built once per text
 * under build/test-fixtures/wat/.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
