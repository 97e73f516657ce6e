/**
 * `hayate new` → `hayate build` → `hayate deploy` → `hayate invoke` for each language (issue 16), through the
 * real CLI against a real local cluster; the native twin's image in the container tier where the language
 * has one; `hayate ls` as a table; `hayate invoke -v`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { runCli } from './helpers/cli';
import { DEFAULT_WATCHDOG } from '../services/invoker/executors/container/container-executor';

const test = anyTest as TestFn<{ cluster: Cluster; dir: string }>;

// known before the tests are declared, so that a machine without Docker shows the twin tests as skipped
const NO_DOCKER = !existsSync(DEFAULT_WATCHDOG)
  ? `watchdog not built at ${DEFAULT_WATCHDOG}`
  : spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0
    ? 'no Docker engine answers here'
    : null;

const LANGS = [
  { lang: 'c', twin: true },
  { lang: 'cpp', twin: true },
  { lang: 'rust', twin: true },
  { lang: 'assemblyscript', twin: false },
  { lang: 'lua', twin: false },
] as const;

test.before(async (t) => {
  t.context.dir = mkdtempSync(join(tmpdir(), 'hayate-projects-'));
  t.context.cluster = await startCluster({ invokers: 1 });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
  if (t.context.dir !== undefined) rmSync(t.context.dir, { recursive: true, force: true });
});

function cli(t: { context: { cluster: Cluster } }, args: string[], cwd: string, input?: string) {
  return runCli(args, input, { HAYATE_URL: t.context.cluster.http, HAYATE_LOG_FORMAT: 'json' }, cwd);
}

for (const { lang, twin } of LANGS) {
  test.serial(`${lang} project answers Hello when made by new, built, deployed and invoked`, async (t) => {
    t.timeout(300_000);
    const name = `hello-${lang}`;
    const created = await cli(t, ['new', name, '--lang', lang], t.context.dir);
    t.is(created.code, 0, created.stderr);
    const dir = join(t.context.dir, name);
    const spec = JSON.parse(readFileSync(join(dir, 'hayate.json'), 'utf8')) as Record<string, unknown>;
    t.like(spec, { name, lang, policy: 'auto', files: null });
    t.is(readFileSync(join(dir, 'README.md'), 'utf8').trimEnd().split('\n').length, 3);

    const built = await cli(t, ['build', '--json'], dir);
    t.is(built.code, 0, built.stderr);
    const record = JSON.parse(built.stdout) as { wasm: string; native: string | null; image: string | null };
    t.is(record.wasm, join(dir, 'build', `${name}.wasm`));
    t.is(record.native !== null, twin);
    if (twin && NO_DOCKER === null) t.is(record.image, `hayate-fn/${name}:latest`);

    const deployed = await cli(t, ['deploy'], dir);
    t.is(deployed.code, 0, deployed.stderr);
    t.regex(deployed.stdout, new RegExp(`^deployed ${name} version \\d+ digest [0-9a-f]{12}`));
    const answer = await cli(t, ['invoke', name, '-v'], dir, 'hi');
    t.is(answer.code, 0, answer.stderr);
    t.is(answer.stdout, 'Hello, hi!\n');
    t.regex(answer.stderr, /^< HTTP 200$/m);
    t.regex(answer.stderr, /^< Hayate-Tier: wasm$/m);
    t.regex(answer.stderr, /^< Hayate-Invocation-Id: \S+$/m);
    t.regex(answer.stderr, /^< Hayate-Invoker: \S+$/m);
    t.regex(answer.stderr, /^< Server-Timing: .*total;dur=/m);
  });

  const twinTitle = `${lang} project's native twin answers in the container tier when its policy is container`;
  if (twin && NO_DOCKER !== null) test.skip(`${twinTitle} (skipped: ${NO_DOCKER})`, () => undefined);
  if (twin && NO_DOCKER === null) {
    test.serial(twinTitle, async (t) => {
      t.timeout(300_000);
      const name = `twin-${lang}`;
      t.is((await cli(t, ['new', name, '--lang', lang], t.context.dir)).code, 0);
      const dir = join(t.context.dir, name);
      const file = join(dir, 'hayate.json');
      writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), policy: 'container' }));
      const built = await cli(t, ['build'], dir);
      t.is(built.code, 0, built.stderr);
      const deployed = await cli(t, ['deploy', '--json'], dir);
      t.is(deployed.code, 0, deployed.stderr);
      t.is((JSON.parse(deployed.stdout) as { image: string }).image, `hayate-fn/${name}:latest`);
      const answer = await cli(t, ['invoke', name, '-v'], dir, 'container');
      t.is(answer.code, 0, answer.stderr);
      t.is(answer.stdout, 'Hello, container!\n');
      t.regex(answer.stderr, /^< Hayate-Tier: container$/m);
    });
  }
}

test.serial('ls prints an aligned table with headers when not asked for JSON', async (t) => {
  const r = await cli(t, ['ls'], t.context.dir);
  t.is(r.code, 0, r.stderr);
  const [header, ...rows] = r.stdout.trimEnd().split('\n');
  t.regex(header ?? '', /^NAME\s+VERSION\s+POLICY\s+MEMORY_MB\s+TIMEOUT_MS\s+DIGEST\s+IMAGE$/);
  t.true(rows.length >= LANGS.length);
  const row = rows.find((l) => l.startsWith('hello-c '));
  t.truthy(row);
  // every column starts where its header starts
  const at = (text: string, word: string) => text.indexOf(word);
  t.is(at(row ?? '', 'auto'), at(header ?? '', 'POLICY'));
  const json = await cli(t, ['ls', '--json'], t.context.dir);
  t.true((JSON.parse(json.stdout) as { functions: { name: string }[] }).functions.some((f) => f.name === 'hello-c'));
});

test.serial('build names the apt line when the project language toolchain is missing a tool', async (t) => {
  const dir = join(t.context.dir, 'no-tool');
  t.is((await cli(t, ['new', 'no-tool', '--lang', 'c'], t.context.dir)).code, 0);
  // a PATH without clang: the toolchain check runs before any compiler
  const r = await runCli(['build'], undefined, { PATH: '/nonexistent', HAYATE_LOG_FORMAT: 'json' }, dir);
  t.is(r.code, 1);
  t.regex(r.stderr, /HAYATE_ERR_BUILD_FAILED: Cannot build no-tool \(c\) as clang, wasm-ld(, gcc)? are missing: install with apt-get install -y clang lld/);
});

test.serial('new refuses an unknown language with the list of languages', async (t) => {
  const r = await cli(t, ['new', 'x', '--lang', 'cobol'], t.context.dir);
  t.is(r.code, 2);
  t.regex(r.stderr, /HAYATE_ERR_INVALID_OPTION: Invalid --lang "cobol": expected one of c, cpp, rust, assemblyscript, lua/);
});
