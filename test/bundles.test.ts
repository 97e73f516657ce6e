/**
 * Functions that carry files (SPEC §2), end to end through real processes: `PUT /v1/bundles`, deploys that
 * name a bundle, the files read in the WASM tier and in a warm container, EROFS, the copy-on-write layer
 * within memory_mb, redeploys and deletes, a 200 MiB bundle fetched once for two functions, and refusals.
 */
import { request as httpRequest } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { packDir } from '../services/cli/pack-dir';
import { HayateError } from '../services/common/errors';
import { buildFilesImage, containerSkipReason, filesWasm, tarOf } from './helpers/bundles';
import { runCli } from './helpers/cli';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';

const test = anyTest as TestFn<{ cluster: Cluster; bundle: string; other: string }>;
const MiB = 1024 * 1024;
const skipContainers = containerSkipReason();
const containerTest = skipContainers === null ? test.serial : test.serial.skip;
const IMAGE = `hayate-test/files:${process.pid}`;

interface InvokerView { bundle_cache_bytes: number; bundle_fetches: number; bundle_fetch_bytes: number }

test.before(async (t) => {
  // the 200 MiB bundle keeps a loaded 2-core machine busy for seconds: callers wait for the one invoker rather
  // than take it for dead after 1.5 s of silence (failover is tested elsewhere)
  t.context.cluster = await startCluster({ invokers: 1, env: { HAYATE_DEAD_AFTER_MS: '30000' } });
  const { client } = t.context.cluster;
  const tar = await tarOf([
    { name: 'greeting.txt', data: 'hello from the bundle\n' },
    { name: 'data/', type: 'directory', mode: 0o755 },
    { name: 'data/numbers.txt', data: '1 2 3\n' },
    { name: 'link', type: 'symlink', linkname: 'greeting.txt' },
    { name: 'tmp/shadowed', data: 'never seen\n' },
  ]);
  t.context.bundle = (await client.putBundle(tar)).digest;
  t.context.other = (await client.putBundle(await tarOf([{ name: 'greeting.txt', data: 'the other bundle\n' }]))).digest;
  await client.deploy('fs', filesWasm(), { files: t.context.bundle, policy: 'wasm' });
  await client.deploy('fs-srv', filesWasm(), { files: t.context.bundle, files_path: '/srv/app', policy: 'wasm' });
  await client.deploy('fs-cow', filesWasm(), { files: t.context.bundle, files_writable: 'true', memory_mb: '16', policy: 'wasm' });
  if (skipContainers === null) {
    buildFilesImage(IMAGE);
    await client.deploy('fs-box', filesWasm(), { files: t.context.bundle, image: IMAGE, policy: 'container' });
    await client.deploy('fs-box-srv', filesWasm(), { files: t.context.bundle, files_path: '/srv/app', image: IMAGE, policy: 'container' });
  }
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

async function run(t: { context: { cluster: Cluster } }, fn: string, ...args: string[]): Promise<{ status: number; out: string; code: string; stderr: string }> {
  const r = await t.context.cluster.client.invoke(fn, Buffer.alloc(0), { args });
  // a failed run's stdout is not in HTTP's error body: its stderr is
  return { status: r.status, out: r.error === undefined ? r.body.toString() : '', code: r.error?.code ?? '', stderr: r.error?.stderr ?? '' };
}

/** The one invoker's status (asked again while a busy invoker misses the status round). */
async function invokerView(cluster: Cluster): Promise<InvokerView> {
  for (;;) {
    const s = (await cluster.client.status()) as { invokers: InvokerView[] };
    if (s.invokers[0] !== undefined) return s.invokers[0];
    await sleep(200);
  }
}

test('PUT /v1/bundles answers the sha256 digest and size when given the same tar twice', async (t) => {
  const tar = await tarOf([{ name: 'a.txt', data: 'a' }]);
  const first = await t.context.cluster.client.putBundle(tar);
  const again = await t.context.cluster.client.putBundle(tar);
  t.regex(first.digest, /^[0-9a-f]{64}$/);
  t.is(first.bytes, tar.byteLength);
  t.deepEqual(again, first);
});

test('PUT /v1/bundles refuses with HAYATE_ERR_INVALID_BUNDLE when the body is not a tar hayate serves', async (t) => {
  const { client } = t.context.cluster;
  const cases: [string, Buffer][] = [
    ['garbage', Buffer.alloc(2048, 0x41)],
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0])],
    ['absolute link', await tarOf([{ name: 'etc', type: 'symlink', linkname: '/etc' }])],
    ['link leaving the bundle', await tarOf([{ name: 'a/up', type: 'symlink', linkname: '../../x' }])],
    ['dot-dot path', await tarOf([{ name: '../escape.txt', data: 'x' }])],
    ['fifo', await tarOf([{ name: 'pipe', type: 'fifo' }])],
  ];
  for (const [what, tar] of cases) {
    const err = await t.throwsAsync(client.putBundle(tar), { instanceOf: HayateError }, what);
    t.is(err?.code, 'HAYATE_ERR_INVALID_BUNDLE', what);
  }
});

test('PUT /v1/bundles answers 413 naming the limit when the declared body is over HAYATE_MAX_BUNDLE_MB', async (t) => {
  const url = new URL('/v1/bundles', t.context.cluster.http);
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(url, { method: 'PUT', headers: { 'content-type': 'application/x-tar', 'content-length': String(300 * MiB) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
        req.destroy();
      });
    });
    req.on('error', reject);
    req.write(Buffer.alloc(64 * 1024));
  });
  t.is(answer.status, 413);
  const error = (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
  t.is(error.code, 'HAYATE_ERR_PAYLOAD_TOO_LARGE');
  t.regex(error.message, /268435456 bytes \(HAYATE_MAX_BUNDLE_MB=256\)/);
});

test('deploy refuses a bundle digest never uploaded with HAYATE_ERR_BUNDLE_NOT_FOUND and bad files options with HAYATE_ERR_INVALID_OPTION', async (t) => {
  const { client } = t.context.cluster;
  const refused = async (query: Record<string, string>): Promise<string | undefined> => (await t.throwsAsync(client.deploy('fs-bad', filesWasm(), query), { instanceOf: HayateError }))?.code;
  t.is(await refused({ files: 'f'.repeat(64) }), 'HAYATE_ERR_BUNDLE_NOT_FOUND');
  t.is(await refused({ files: 'not-a-digest' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused({ files: t.context.bundle, files_path: 'relative' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused({ files: t.context.bundle, files_path: '/tmp/x' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused({ files: t.context.bundle, files_path: '/a/../b' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused({ files_path: '/srv' }), 'HAYATE_ERR_INVALID_OPTION');
  t.is(await refused({ files: t.context.bundle, files_writable: 'true', image: 'hayate-example/upper:latest' }), 'HAYATE_ERR_INVALID_OPTION');
});

test('WASM function reads its files at / beside /tmp and /dev when deployed with a bundle', async (t) => {
  t.is((await run(t, 'fs', 'cat', '/greeting.txt', '/data/numbers.txt', '/link')).out, 'hello from the bundle\n1 2 3\nhello from the bundle\n');
  t.is((await run(t, 'fs', 'ls', '/')).out, 'data/\ndev/\ngreeting.txt\nlink\ntmp/\n');
  // /tmp stays the run's own, empty: the bundle's tmp/ is not shown
  t.is((await run(t, 'fs', 'ls', '/tmp')).out, '');
});

test('WASM function reads its files at files_path when one is given', async (t) => {
  t.is((await run(t, 'fs-srv', 'cat', '/srv/app/data/numbers.txt')).out, '1 2 3\n');
  t.is((await run(t, 'fs-srv', 'ls', '/')).out, 'dev/\nsrv/\ntmp/\n');
  t.is((await run(t, 'fs-srv', 'ls', '/srv/app')).out, 'data/\ngreeting.txt\nlink\ntmp/\n');
});

test('WASM writes to a read-only bundle fail with EROFS and the function goes on reading', async (t) => {
  for (const args of [['write', '/greeting.txt', 'x'], ['append', '/data/numbers.txt', 'x'], ['write', '/data/new.txt', 'x'], ['mkdir', '/data/sub']]) {
    const r = await run(t, 'fs', ...args);
    t.is(r.code, 'HAYATE_ERR_FUNCTION_ERROR', args.join(' '));
    t.regex(r.stderr, /Read-only file system/, args.join(' '));
  }
  t.is((await run(t, 'fs', 'cat', '/greeting.txt')).out, 'hello from the bundle\n');
});

test('WASM writes with files_writable go to the run\'s own copy, unseen by the next run', async (t) => {
  t.is((await run(t, 'fs-cow', 'append', '/greeting.txt', 'more\n')).out, 'hello from the bundle\nmore\n');
  t.is((await run(t, 'fs-cow', 'cat', '/greeting.txt')).out, 'hello from the bundle\n');
  t.is((await run(t, 'fs-cow', 'mkdir', '/data/sub')).out, 'ok\n');
  // and the read-only function sharing the bundle never sees a copy
  t.is((await run(t, 'fs', 'cat', '/greeting.txt')).out, 'hello from the bundle\n');
});

test('WASM copy-on-write beyond memory_mb fails with ENOSPC and the run is LIMIT_EXCEEDED', async (t) => {
  const r = await run(t, 'fs-cow', 'grow', '/data/numbers.txt', String(20 * MiB));
  t.is(r.code, 'HAYATE_ERR_LIMIT_EXCEEDED');
  t.regex(r.stderr, /No space left on device/);
  t.is((await run(t, 'fs-cow', 'grow', '/data/numbers.txt', String(MiB))).out, 'ok\n');
});

test.serial('redeploy with another bundle shows the new files at once and delete evicts an unused bundle', async (t) => {
  const { cluster } = t.context;
  await cluster.client.deploy('fs-swap', filesWasm(), { files: t.context.bundle, policy: 'wasm' });
  t.is((await run(t, 'fs-swap', 'cat', '/greeting.txt')).out, 'hello from the bundle\n');
  await cluster.client.deploy('fs-swap', filesWasm(), { files: t.context.other, policy: 'wasm' });
  t.is((await run(t, 'fs-swap', 'cat', '/greeting.txt')).out, 'the other bundle\n');
  const held = (await invokerView(cluster)).bundle_cache_bytes;
  await cluster.client.remove('fs-swap');
  let after = held;
  for (let i = 0; i < 100 && after === held; i += 1) {
    await sleep(50);
    after = (await invokerView(cluster)).bundle_cache_bytes;
  }
  t.true(after < held, `bundle cache went from ${held} to ${after} bytes`);
  t.is((await run(t, 'fs', 'cat', '/greeting.txt')).out, 'hello from the bundle\n', 'the bundle other functions name stays');
});

test.serial('a 200 MiB bundle is prefetched once by the invoker and shared by two functions', async (t) => {
  // a 200 MiB upload and read take tens of seconds on a loaded 2-core machine
  t.timeout(300_000);
  const { cluster } = t.context;
  const big = Buffer.alloc(200 * MiB, 7);
  const ref = await cluster.client.putBundle(await tarOf([{ name: 'big.bin', data: big }]));
  const before = await invokerView(cluster);
  await cluster.client.deploy('big-a', filesWasm(), { files: ref.digest, policy: 'wasm', timeout_ms: '60000' });
  await cluster.client.deploy('big-b', filesWasm(), { files: ref.digest, files_path: '/srv/big', policy: 'wasm', timeout_ms: '60000' });
  // prefetched on deploy: the first call then finds it held
  let fetched = before;
  for (let i = 0; i < 1200 && fetched.bundle_fetches === before.bundle_fetches; i += 1) {
    await sleep(100);
    fetched = await invokerView(cluster);
  }
  t.is(fetched.bundle_fetches - before.bundle_fetches, 1, 'prefetched when deployed');
  for (let i = 0; i < 3; i += 1) {
    const a = await run(t, 'big-a', 'sum', '/big.bin');
    t.is(a.out.split(' ')[0], String(200 * MiB), `${a.code} ${a.stderr}`);
    const b = await run(t, 'big-b', 'sum', '/srv/big/big.bin');
    t.is(b.out.split(' ')[0], String(200 * MiB), `${b.code} ${b.stderr}`);
  }
  const after = await invokerView(cluster);
  t.is(after.bundle_fetches - before.bundle_fetches, 1);
  t.is(after.bundle_fetch_bytes - before.bundle_fetch_bytes, ref.bytes);
  await cluster.client.remove('big-a');
  await cluster.client.remove('big-b');
});

test.serial('hayate deploy --files packs a folder, uploads it and deploys naming its digest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-files-'));
  try {
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'app.ini'), 'answer=42\n');
    symlinkSync('conf/app.ini', join(dir, 'app.ini'));
    const wasm = join(dir, 'files.wasm');
    writeFileSync(wasm, filesWasm());
    const env = { HAYATE_URL: t.context.cluster.http };
    const deployed = await runCli(['deploy', 'fs-cli', wasm, '--files', dir, '--files-path', '/etc/app', '--policy', 'wasm', '--json'], undefined, env);
    t.is(deployed.code, 0, deployed.stderr);
    const spec = JSON.parse(deployed.stdout) as { files: string; files_path: string; files_writable: boolean };
    t.regex(spec.files, /^[0-9a-f]{64}$/);
    t.is(spec.files_path, '/etc/app');
    t.false(spec.files_writable);
    t.is((await run(t, 'fs-cli', 'cat', '/etc/app/app.ini')).out, 'answer=42\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('hayate deploy in a project folder uploads the folder hayate.json names as files, --files-path applied', async (t) => {
  t.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'hayate-project-files-'));
  try {
    const env = { HAYATE_URL: t.context.cluster.http };
    const created = await runCli(['new', 'proj-files'], undefined, env, dir);
    t.is(created.code, 0, created.stderr);
    const project = join(dir, 'proj-files');
    mkdirSync(join(project, 'data'));
    writeFileSync(join(project, 'data', 'words.txt'), 'apple\n');
    const specFile = join(project, 'hayate.json');
    writeFileSync(specFile, JSON.stringify({ ...(JSON.parse(readFileSync(specFile, 'utf8')) as object), files: 'data', policy: 'wasm' }));
    const built = await runCli(['build', '--no-image'], undefined, env, project);
    t.is(built.code, 0, built.stderr);
    const deployed = await runCli(['deploy', '--files-path', '/srv/data', '--json'], undefined, env, project);
    t.is(deployed.code, 0, deployed.stderr);
    const spec = JSON.parse(deployed.stdout) as { files: string; files_path: string };
    t.is(spec.files, (await t.context.cluster.client.putBundle(await packDir(join(project, 'data')))).digest);
    t.is(spec.files_path, '/srv/data');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

containerTest(`container function reads the same files read-only at / and at files_path (skipped here when: ${skipContainers ?? 'never'})`, async (t) => {
  const cat = await run(t, 'fs-box', 'cat', '/greeting.txt', '/data/numbers.txt', '/link');
  t.is(cat.out, 'hello from the bundle\n1 2 3\nhello from the bundle\n', cat.stderr);
  t.is((await run(t, 'fs-box-srv', 'cat', '/srv/app/data/numbers.txt')).out, '1 2 3\n');
  t.is((await run(t, 'fs-box-srv', 'ls', '/srv/app')).out, 'data/\ngreeting.txt\nlink\ntmp/\n');
  const r = await t.context.cluster.client.invoke('fs-box', Buffer.alloc(0), { args: ['ls', '/'] });
  t.is(r.headers.get('hayate-tier'), 'container');
  t.true(['data/', 'greeting.txt', 'link'].every((n) => r.body.toString().split('\n').includes(n)), r.body.toString());
  // the names hayate keeps are not shadowed: /tmp is the container's own tmpfs, without the bundle's tmp/
  t.is((await run(t, 'fs-box', 'ls', '/tmp')).out, '');
});

containerTest('container writes to the bundle fail with EROFS when mounted read-only', async (t) => {
  for (const args of [['write', '/greeting.txt', 'x'], ['write', '/srv/app/new.txt', 'x']]) {
    const r = await run(t, args[1]!.startsWith('/srv') ? 'fs-box-srv' : 'fs-box', ...args);
    t.is(r.code, 'HAYATE_ERR_FUNCTION_ERROR', args.join(' '));
    t.regex(r.stderr, /Read-only file system/, args.join(' '));
  }
});
