/**
 * Builds the C test programs of test/fixtures/<dir>/ into WASI modules (clang --target=wasm32-wasi, as
 * `hayate build` builds C projects) under build/test-fixtures/<dir>/, and, for programs that run in both
 * tiers, into static native binaries beside them (gcc -static, for a FROM scratch image); what is newer than
 * its source and check.h is reused.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths';

const FLAGS = ['--target=wasm32-wasi', `--sysroot=${process.env['WASI_SYSROOT'] ?? '/usr'}`, '-O2', '-Wall', '-Wno-infinite-recursion', '-Wl,--strip-debug'];

/** Source folder of a fixture set. */
export function fixtureDir(dir: string): string {
  return join(ROOT, 'test', 'fixtures', dir);
}

/**
 * The module built from test/fixtures/<dir>/<name>.c.
 * @throws Error with clang's output when it does not compile
 */
export function buildFixture(dir: string, name: string): Buffer {
  return readFileSync(compile(dir, name, `${name}.wasm`, process.env['CLANG'] ?? 'clang', FLAGS));
}

/**
 * The path of the static native binary built from test/fixtures/<dir>/<name>.c.
 * @throws Error with gcc's output when it does not compile (or gcc or a static libc is missing)
 */
export function buildNativeFixture(dir: string, name: string): string {
  return compile(dir, name, name, process.env['CC'] ?? 'gcc', ['-O2', '-static', '-s', '-Wall']);
}

function compile(dir: string, name: string, target: string, compiler: string, flags: string[]): string {
  const srcDir = fixtureDir(dir);
  const src = join(srcDir, `${name}.c`);
  const outDir = join(ROOT, 'build', 'test-fixtures', dir);
  const out = join(outDir, target);
  const header = join(srcDir, 'check.h');
  const newest = Math.max(statSync(src).mtimeMs, existsSync(header) ? statSync(header).mtimeMs : 0);
  if (!existsSync(out) || statSync(out).mtimeMs < newest) {
    mkdirSync(outDir, { recursive: true });
    execFileSync(compiler, [...flags, `-I${srcDir}`, src, '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return out;
}
