/**
 * Which libc a C function's native twin links (services/cli/toolchains.ts): musl when musl-gcc is there (a
 * warm container starts a fresh process per call, and a static musl program starts on less than half the
 * CPU of a static glibc one here), static glibc for a program musl cannot build, and the compiler's error
 * when neither can. Real `hayate build` (no image), real gcc and musl-gcc, the binaries run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { build } from '../services/cli/build';
import { newProject } from '../services/cli/new';
import { HayateError } from '../services/common/errors';

const test = anyTest as TestFn<{ dir: string }>;

const onPath = (command: string): boolean => spawnSync('/bin/sh', ['-c', 'command -v "$0"', command], { stdio: 'ignore' }).status === 0;
const NO_GCC = onPath('gcc') ? null : 'gcc is not installed (apt-get install -y gcc libc6-dev)';
const NO_MUSL = NO_GCC ?? (onPath('musl-gcc') ? null : 'musl-gcc is not installed (apt-get install -y musl-tools)');

const UPPER = `#include <ctype.h>
#include <stdio.h>
int main(void) {
  int c;
  while ((c = getchar()) != EOF) putchar(toupper(c));
  return 0;
}
`;

// execinfo.h is glibc's: musl has no backtrace() (nor has WASI, where it counts one frame)
const GLIBC_ONLY = `#include <stdio.h>
#ifndef __wasm__
#include <execinfo.h>
#endif
int main(void) {
  void *frames[4];
#ifdef __wasm__
  int n = 1;
#else
  int n = backtrace(frames, 4) > 0;
#endif
  (void)frames;
  printf("%d frames\\n", n);
  return 0;
}
`;

test.before((t) => {
  t.context.dir = mkdtempSync(join(tmpdir(), 'hayate-c-libc-'));
});

test.after.always((t) => {
  rmSync(t.context.dir, { recursive: true, force: true });
});

/** A C project named `name` whose main.c is `source`, built without an image: its record and what it said. */
function buildC(dir: string, name: string, source: string): { native: string; commands: string; said: string[] } {
  const project = newProject(name, 'c', dir);
  writeFileSync(join(project, 'main.c'), source);
  const said: string[] = [];
  const record = build(project, { image: false, say: (line) => said.push(line) });
  if (record.native === null) throw new Error('no native twin was built');
  return { native: record.native, commands: record.commands, said };
}

/** Whether the static binary carries glibc (its own messages name it; musl's do not). */
const linksGlibc = (binary: string): boolean => readFileSync(binary).includes('glibc');

const maybeMusl = NO_MUSL === null ? test : test.skip;
const maybeGcc = NO_GCC === null ? test : test.skip;

maybeMusl(`a C twin is linked with musl and runs the program unchanged${NO_MUSL === null ? '' : ` (skipped: ${NO_MUSL})`}`, (t) => {
  t.timeout(120_000);
  const { native, commands, said } = buildC(t.context.dir, 'upper-musl', UPPER);
  t.true(commands.includes('"command":"musl-gcc"'));
  t.false(said.some((line) => line.includes('static glibc')), said.join('\n'));
  t.false(linksGlibc(native));
  const run = spawnSync(native, [], { input: 'hello, edge' });
  t.is(run.status, 0);
  t.is(run.stdout.toString(), 'HELLO, EDGE');
});

maybeMusl(`a C program musl cannot build is built on static glibc, and the build says so${NO_MUSL === null ? '' : ` (skipped: ${NO_MUSL})`}`, (t) => {
  t.timeout(120_000);
  const { native, said } = buildC(t.context.dir, 'glibc-only', GLIBC_ONLY);
  t.true(said.some((line) => line.includes('musl-gcc could not build it') && line.includes('static glibc')), said.join('\n'));
  t.true(linksGlibc(native));
  const run = spawnSync(native, []);
  t.is(run.status, 0);
  t.is(run.stdout.toString(), '1 frames\n');
});

// builds for WASI, and natively neither on musl nor on glibc
const NATIVE_BROKEN = `#ifndef __wasm__
#error no native build
#endif
int main(void) { return 0; }
`;

maybeGcc(`a C twin no libc can build fails the build with a typed error${NO_GCC === null ? '' : ` (skipped: ${NO_GCC})`}`, (t) => {
  t.timeout(120_000);
  const err = t.throws(() => buildC(t.context.dir, 'native-broken', NATIVE_BROKEN), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_BUILD_FAILED');
  t.regex(err?.message ?? '', /native-broken \(native\): gcc exited with 1/);
});
