/**
 * WASI fidelity: the C programs of test/fixtures/wasi/ exercise files, directories, stat, links, args, env,
 * clocks, sleeping, randomness, stdio, /dev, exit codes, the sandbox and sockets, each printing what the
 * POSIX calls returned; wasi-api.c calls the WASI API below libc (rights, confinement to a directory,
 * readdir cookies, renumber, EFAULT and EINVAL at the edges). Run on the real invoker, their stdout must equal
 * <name>.stdout exactly: the output the program gives natively on Linux, but for descriptor numbers and what
 * the sandbox hides. posix-fs.c is also built with gcc and run here, and must print the same natively.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { InvokeResponse } from '../services/common/codec';
import { decodeInvokeResponse, encodeInvokeRequest } from '../services/common/codec';
import { WASI_FUNCTIONS } from '../services/common/wasm-module';
import { Wasi } from '../services/invoker/executors/wasm/wasi/wasi';
import { buildFixture, fixtureDir } from './helpers/c-fixtures';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';

const test = anyTest as TestFn<{ cluster: Cluster }>;

/** Every fixture runs with these (spec args and env, stdin). */
const ARGS = ['héllo wörld', '', 'two words'];
const ENV = ['FX_EQ=a=b', 'FX_EMPTY=', 'FX_PLAIN=p'];
const STDIN = 'line one\nline two\n';

/** Fixtures and what they end with besides their stdout file. */
const FIXTURES: Record<string, { exitCode?: number; stderr?: string }> = {
  files: {},
  stat: {},
  dirs: {},
  'args-env': {},
  clocks: {},
  random: {},
  stdio: { stderr: 'raw stderr\nformatted stderr 2\nvia /dev/stderr\n' },
  'exit-code': { exitCode: 42, stderr: 'stderr before exit\n' },
  sandbox: {},
  socket: {},
  'wasi-api': {},
  'posix-fs': {},
  'symlink-escape': {},
};

let seq = 0;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, args: ['--workers', '2'] });
  const { client } = t.context.cluster;
  await Promise.all(Object.keys(FIXTURES).map((name) => client.deploy(`wasi-${name}`, buildFixture('wasi', name), { arg: ARGS, env: ENV })));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

async function invoke(t: ExecutionContext<{ cluster: Cluster }>, fn: string, env: Record<string, string> = {}): Promise<InvokeResponse> {
  seq += 1;
  const req = encodeInvokeRequest({ invocationId: `wasi-${seq}`, function: fn, input: Buffer.from(STDIN), args: [], env, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 });
  return decodeInvokeResponse((await t.context.cluster.nc.request(`hayate.v1.invoke.${fn}`, req, { timeout: 30_000 })).data);
}

for (const [name, expected] of Object.entries(FIXTURES)) {
  test(`WASI fixture ${name} prints exactly its expected output when run on the invoker`, async (t) => {
    const r = await invoke(t, `wasi-${name}`);
    t.is(Buffer.from(r.output).toString(), readFileSync(join(fixtureDir('wasi'), `${name}.stdout`), 'utf8'));
    t.is(Buffer.from(r.stderr).toString(), expected.stderr ?? '');
    t.is(r.exitCode, expected.exitCode ?? 0);
    t.is(r.status, (expected.exitCode ?? 0) === 0 ? 'OK' : 'FUNCTION_ERROR');
  });
}

test('WASI exit code is the low byte of the status when a program exits with -1 or 256', async (t) => {
  t.is((await invoke(t, 'wasi-exit-code', { FX_EXIT: '-1' })).exitCode, 255);
  const wrapped = await invoke(t, 'wasi-exit-code', { FX_EXIT: '256' });
  t.is(wrapped.exitCode, 0);
  t.is(wrapped.status, 'OK');
});

test('WASI fixture runs start from a fresh filesystem when the same function runs again', async (t) => {
  // dirs.c fails its first mkdir with EEXIST if anything of a previous run remained
  for (let i = 0; i < 3; i += 1) t.is(Buffer.from((await invoke(t, 'wasi-dirs')).output).toString(), readFileSync(join(fixtureDir('wasi'), 'dirs.stdout'), 'utf8'));
});

test('WASI fixture posix-fs prints on the invoker what the same C program prints natively on Linux', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-posix-fs-'));
  try {
    const exe = join(dir, 'posix-fs');
    try {
      execFileSync(process.env['CC'] ?? 'gcc', ['-O2', `-I${fixtureDir('wasi')}`, `-DBASE="${join(dir, 'base')}"`, join(fixtureDir('wasi'), 'posix-fs.c'), '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err: unknown) {
      t.log(err instanceof Error ? err.message : String(err));
      t.fail('gcc could not build test/fixtures/wasi/posix-fs.c (apt-get install gcc)');
      return;
    }
    // as the invoker gives it: stdin a pipe whose writer has closed, stdout a pipe, stderr not a socket. A
    // here-document, not `printf | prog`: Debian's sh (dash) writes a small one into the pipe and closes it
    // before the program starts, where printf could still be writing when the program first polls stdin
    // (it then saw no data and no hang-up: a flake under load)
    const native = execFileSync('sh', ['-c', `"${exe}" 2>/dev/null <<'EOF' | cat\nline one\nline two\nEOF\n`], { encoding: 'utf8' });
    t.is(native, readFileSync(join(fixtureDir('wasi'), 'posix-fs.stdout'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WASI host implements exactly the functions deploy accepts when compared name by name', (t) => {
  const imports = new Wasi({ args: [], env: {}, fsLimitBytes: 0 }).imports();
  t.deepEqual(Object.keys(imports['wasi_snapshot_preview1'] ?? {}).sort(), [...WASI_FUNCTIONS].sort());
  t.deepEqual(Object.keys(imports['wasi_unstable'] ?? {}).sort(), [...WASI_FUNCTIONS].sort());
});
