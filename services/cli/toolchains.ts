/**
 * How each language of a function project becomes a WASI module and, where the language allows, a static
 * native binary for a `FROM scratch` image. One definition serves `hayate build` and the examples
 * (scripts/build-examples.sh calls `hayate build`). Every tool is a Debian or npm package; a missing one is
 * named with the line that installs it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Language } from './project';

/** The hayate checkout (dist/services/cli → root): npm tools and the Lua port live here. */
export const HAYATE_ROOT = join(__dirname, '..', '..', '..');

/** One command of a build. */
export interface Step {
  command: string;
  args: string[];
  /** Run instead when this one fails (its messages then shown only if the other fails too), with why. */
  orElse?: { step: Step; why: string };
}

/** A tool that is not there, and what installs it. */
export interface Missing {
  what: string;
  install: { apt: string } | { npm: string };
}

/** Inputs of a language's commands: the main source and where the outputs go. */
export interface BuildPaths {
  source: string;
  wasm: string;
  native: string;
  /** The project folder, where the commands run. */
  dir: string;
}

export interface Toolchain {
  /** Tools this language needs, missing ones only. */
  missing(): Missing[];
  wasm(p: BuildPaths): Step[];
  /** Commands of the static native twin; null when the language has none. */
  native: ((p: BuildPaths) => Step[]) | null;
}

const WASI_SYSROOT = '/usr';

function onPath(command: string): boolean {
  return spawnSync('/bin/sh', ['-c', 'command -v "$0"', command], { stdio: 'ignore' }).status === 0;
}

function apt(what: string, pkg: string, present: boolean): Missing[] {
  return present ? [] : [{ what, install: { apt: pkg } }];
}

/** The WASI C toolchain every C-family build needs (clang, lld, wasi-libc, compiler-rt for wasm32). */
function wasiC(): Missing[] {
  return [
    ...apt('clang', 'clang', onPath('clang')),
    ...apt('wasm-ld', 'lld', onPath('wasm-ld')),
    ...apt('wasi-libc', 'wasi-libc', existsSync(`${WASI_SYSROOT}/include/wasm32-wasi/stdio.h`)),
    ...apt('compiler-rt for wasm32', 'libclang-rt-14-dev-wasm32', existsSync('/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a') || existsSync('/usr/lib/llvm-14/lib/clang/14/lib/wasi/libclang_rt.builtins-wasm32.a')),
  ];
}

function staticLibc(): Missing[] {
  return apt('static glibc (libc.a)', 'libc6-dev', existsSync('/usr/lib/x86_64-linux-gnu/libc.a') || process.arch !== 'x64');
}

/**
 * `-march=x86-64-v3` (AVX2, FMA, BMI2, MOVBE) when this CPU runs it, else `-march=native`: the native twin
 * is built for the machine that runs it, the case the container tier exists for.
 */
export function nativeMarch(): string {
  if (process.arch !== 'x64') return '-march=native';
  const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
  return ['avx', 'avx2', 'bmi1', 'bmi2', 'fma', 'f16c', 'movbe'].every((f) => flags.includes(f)) ? '-march=x86-64-v3' : '-march=native';
}

const WASM_C = ['--target=wasm32-wasi', `--sysroot=${WASI_SYSROOT}`, '-O2', '-Wall', '-Wl,--strip-debug'];

/**
 * A C twin links musl when Debian's musl-tools is there: a warm container runs a fresh process per call, and a
 * static musl program starts on ≈0.6 ms of CPU on this VM against ≈1.4 ms for the same program on static
 * glibc (fewer pages touched and system calls before main; docs/evaluation.md, "The program's libc"). A program
 * musl cannot build (glibc-only headers or functions) is built on glibc instead, as is every C twin without
 * musl-gcc.
 */
function cNative(p: BuildPaths): Step[] {
  const glibc: Step = { command: 'gcc', args: ['-O3', nativeMarch(), '-static', '-s', '-Wall', p.source, '-o', p.native] };
  if (!onPath('musl-gcc')) return [glibc];
  return [{ command: 'musl-gcc', args: glibc.args, orElse: { step: glibc, why: 'musl-gcc could not build it (a glibc-only header or function?): built on static glibc' } }];
}

const C: Toolchain = {
  missing: () => [...wasiC(), ...apt('gcc', 'gcc', onPath('gcc')), ...staticLibc()],
  wasm: (p) => [{ command: 'clang', args: [...WASM_C, p.source, '-o', p.wasm] }],
  native: cNative,
};

const CPP: Toolchain = {
  missing: () => [
    ...wasiC(),
    ...apt('libc++ for wasm32', 'libc++-dev-wasm32', existsSync(`${WASI_SYSROOT}/lib/wasm32-wasi/libc++.a`) || existsSync('/usr/lib/llvm-14/lib/wasm32-wasi/libc++.a') || existsSync(`${WASI_SYSROOT}/include/wasm32-wasi/c++/v1/vector`)),
    ...apt('g++', 'g++', onPath('g++')),
    ...staticLibc(),
  ],
  // no exceptions: WebAssembly without the exception-handling proposal cannot unwind (docs/functions.md)
  wasm: (p) => [{ command: 'clang++', args: [...WASM_C, '-fno-exceptions', p.source, '-o', p.wasm] }],
  native: (p) => [{ command: 'g++', args: ['-O3', nativeMarch(), '-static', '-s', '-Wall', p.source, '-o', p.native] }],
};

/** Debian's rustc (/usr/bin): a rustup toolchain earlier on PATH may lack the wasm32-wasi standard library. */
const RUSTC = existsSync('/usr/bin/rustc') ? '/usr/bin/rustc' : 'rustc';

const RUST: Toolchain = {
  missing: () => [
    ...apt('rustc', 'rustc', existsSync('/usr/bin/rustc')),
    ...apt('Rust standard library for wasm32-wasi', 'libstd-rust-dev-wasm32', existsSync('/usr/lib/rustlib/wasm32-wasi')),
    ...apt('wasm-ld', 'lld', onPath('wasm-ld')),
    ...apt('static glibc (libc.a)', 'libc6-dev', existsSync('/usr/lib/x86_64-linux-gnu/libc.a') || process.arch !== 'x64'),
  ],
  // Debian bookworm's rustc 1.63 names the target wasm32-wasi (wasm32-wasip1 from 1.78)
  wasm: (p) => [{ command: RUSTC, args: ['--edition', '2021', '--target', 'wasm32-wasi', '-C', 'opt-level=2', '-C', 'strip=debuginfo', p.source, '-o', p.wasm] }],
  native: (p) => [{ command: RUSTC, args: ['--edition', '2021', '-C', 'opt-level=3', '-C', 'target-cpu=native', '-C', 'target-feature=+crt-static', '-C', 'strip=symbols', p.source, '-o', p.native] }],
};

function npmPackage(name: string): string | null {
  try {
    return join(require.resolve(`${name}/package.json`, { paths: [HAYATE_ROOT] }), '..');
  } catch {
    return null;
  }
}

const ASSEMBLYSCRIPT: Toolchain = {
  missing: () => [
    ...(npmPackage('assemblyscript') === null ? [{ what: 'AssemblyScript compiler', install: { npm: 'assemblyscript' } } as const] : []),
    ...(npmPackage('@assemblyscript/wasi-shim') === null ? [{ what: 'AssemblyScript WASI shim', install: { npm: '@assemblyscript/wasi-shim' } } as const] : []),
  ],
  wasm: (p) => [
    {
      command: process.execPath,
      // asc 0.28 loads the shim's library files only when the config is named by a relative path
      args: [join(npmPackage('assemblyscript') ?? '', 'bin', 'asc.js'), p.source, '--config', relative(p.dir, join(npmPackage('@assemblyscript/wasi-shim') ?? '', 'asconfig.json')), '-O3', '--noAssert', '-o', p.wasm],
    },
  ],
  native: null,
};

/** The Lua interpreter port: Debian's unmodified lua5.4 sources, configured for wasi-libc by these files. */
export const LUA_PORT = join(HAYATE_ROOT, 'examples', 'toolchains', 'lua-wasi');

const LUA: Toolchain = {
  missing: () => [...wasiC(), ...apt('dpkg-source (unpacks Debian sources)', 'dpkg-dev', onPath('dpkg-source'))],
  // the interpreter is built once per machine (lua-wasi.sh caches it); the function is the script
  wasm: (p) => [{ command: 'bash', args: [join(LUA_PORT, 'lua-wasi.sh'), p.wasm] }],
  native: null,
};

/** The toolchain of every language. */
export const TOOLCHAINS: Readonly<Record<Language, Toolchain>> = { c: C, cpp: CPP, rust: RUST, assemblyscript: ASSEMBLYSCRIPT, lua: LUA };

/** The one line that installs what is missing, e.g. `apt-get install -y clang lld`. */
export function installLine(missing: readonly Missing[]): string {
  const aptPkgs = [...new Set(missing.flatMap((m) => ('apt' in m.install ? [m.install.apt] : [])))];
  const npmPkgs = [...new Set(missing.flatMap((m) => ('npm' in m.install ? [m.install.npm] : [])))];
  const lines: string[] = [];
  if (aptPkgs.length > 0) lines.push(`apt-get install -y ${aptPkgs.join(' ')}`);
  if (npmPkgs.length > 0) lines.push(`npm install --save-dev ${npmPkgs.join(' ')} (in ${HAYATE_ROOT})`);
  return lines.join(' && ');
}
