/**
 * Hostile native programs in the container tier (real dockerd): a fork bomb, a memory bomb, network and
 * root-filesystem attempts. Each gets its own answer while the same invoker goes on serving.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type Docker from 'dockerode';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { dockerMissingReason, dockerOrReason, withDocker } from './helpers/docker';
import { exampleWasm, ROOT } from './helpers/paths';
import { alive } from './helpers/process';

const test = anyTest as TestFn<{ cluster?: Cluster; docker?: Docker; image: string }>;
/** Container tests: skipped with the reason when Docker cannot run here, failed when it cannot under CI=true. */
const dockerTest = withDocker(test.serial);
const IMAGE = `hayate-test/hostile:${process.pid}`;

/** Builds the static hostile binary into a FROM scratch image (no registry needed). */
function buildImage(): void {
  const dir = join(ROOT, 'build', 'test-fixtures', 'container');
  mkdirSync(dir, { recursive: true });
  execFileSync('gcc', ['-O2', '-static', join(ROOT, 'test', 'fixtures', 'container', 'hostile.c'), '-o', join(dir, 'hostile')]);
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hostile /hostile\nENTRYPOINT ["/hostile"]\n');
  execFileSync('docker', ['build', '-q', '--label', 'hayate.test=hostile', '-t', IMAGE, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
}

test.before(async (t) => {
  t.context.image = IMAGE;
  if (dockerMissingReason() !== null) return; // the tests are declared skipped (or failing under CI)
  const probe = await dockerOrReason();
  if (!('docker' in probe)) throw new Error(probe.reason);
  t.context.docker = probe.docker;
  buildImage();
  t.context.cluster = await startCluster({ invokers: 1 });
  const { client } = t.context.cluster;
  const upper = readFileSync(exampleWasm('upper'));
  const hostile = (arg: string, extra: Record<string, string> = {}) => ({ image: IMAGE, policy: 'container', arg: [arg], ...extra });
  await client.deploy('forkbomb', upper, hostile('fork', { timeout_ms: '3000' }));
  await client.deploy('membomb', upper, hostile('mem', { memory_mb: '32', timeout_ms: '10000' }));
  await client.deploy('netprobe', upper, hostile('net'));
  await client.deploy('rootwrite', upper, hostile('write'));
  await client.deploy('upper', upper, { image: 'hayate-example/upper:latest', policy: 'container' });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
  if (t.context.docker !== undefined) await t.context.docker.getImage(IMAGE).remove({ force: true }).catch(() => undefined);
});

async function call(cluster: Cluster, fn: string): Promise<{ status: string; code: string; body: string }> {
  const m = await cluster.nc.request(`hayate.v1.call.${fn}`, Buffer.from('x'), { timeout: 60_000 });
  return { status: m.headers?.get('Hayate-Status') ?? '', code: m.headers?.get('Hayate-Error-Code') ?? '', body: Buffer.from(m.data).toString() };
}

/** The same invoker process still answers a normal call. */
async function stillServing(t: { is: (a: unknown, b: unknown, m?: string) => void }, cluster: Cluster): Promise<void> {
  const state = JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as { invokers: { pid: number }[] };
  t.is(state.invokers[0]?.pid, cluster.invokers[0]?.pid, 'invoker not restarted');
  t.is(alive(cluster.invokers[0]!.pid), true, 'invoker process alive');
  const r = await call(cluster, 'upper');
  t.is(r.body, 'X');
}

dockerTest('a fork bomb in a container ends with TIMEOUT when PidsLimit stops it and the invoker keeps serving', async (t) => {
  const cluster = t.context.cluster!;
  const r = await call(cluster, 'forkbomb');
  t.is(r.status, 'TIMEOUT');
  t.is(r.code, 'HAYATE_ERR_TIMEOUT');
  await stillServing(t, cluster);
  // the container survived its fork bomb: the next call is answered by the same warm container
  t.is((await call(cluster, 'forkbomb')).status, 'TIMEOUT');
});

dockerTest('a memory bomb in a container ends with LIMIT_EXCEEDED when it reaches memory_mb and the invoker keeps serving', async (t) => {
  const cluster = t.context.cluster!;
  const r = await call(cluster, 'membomb');
  t.is(r.status, 'LIMIT_EXCEEDED');
  t.is(r.code, 'HAYATE_ERR_LIMIT_EXCEEDED');
  await stillServing(t, cluster);
});

dockerTest('a container has no network and a read-only root when a program tries to use them', async (t) => {
  const cluster = t.context.cluster!;
  const net = await call(cluster, 'netprobe');
  t.is(net.status, 'OK');
  t.regex(net.body, /connect: (Network is unreachable|Connection refused|Cannot assign requested address)/);
  const root = await call(cluster, 'rootwrite');
  t.is(root.status, 'OK');
  t.is(root.body, 'open /etc: Read-only file system\nopen /tmp: opened\n');
  await stillServing(t, cluster);
});
