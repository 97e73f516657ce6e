/**
 * Which libc a C twin should link: the trivial `upper` example built natively twice from the same source with
 * the same flags (`-O3 <march> -static -s`), once with musl-gcc and once with gcc (static glibc), each in a
 * `FROM scratch` image and a warm container of its own (two functions, policy container, one cluster, one
 * invoker), called over NATS (`hayate.v1.call.<fn>`, sequential calls) in interleaved rounds (A B, B A, …).
 * For each: e2e p50 at the caller, the invoker's exec step from the answers, and the container's CPU per call
 * (its cgroup: the watchdog, and the fresh process each call runs, spawned ahead).
 *
 *   npm run build:ts && node dist/bench/libc-ab.js [--rounds R] [--calls N]
 *
 * Needs Docker, gcc, libc6-dev and musl-tools; prints the reason and exits 1 without them.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { InvocationClient } from '../services/common/invocation-client';
import { startLocalCluster } from '../services/common/local-cluster';
import { nativeMarch } from '../services/cli/toolchains';
import { containerCpuNs, deploy, dockerForBench, exampleModule } from './hayate-api';
import { interleaved, pacedCalls, quantiles } from './stats';

const ROOT = join(__dirname, '..', '..');
const SOURCE = join(ROOT, 'examples', 'functions', 'upper', 'upper.c');
const INPUT = Buffer.from('hello, edge!');
const LIBCS = { musl: 'musl-gcc', glibc: 'gcc' } as const;
type Libc = keyof typeof LIBCS;

/** Builds `upper` on `libc` into dir/<libc>/upper, and its image; the image's name. */
function buildImage(dir: string, libc: Libc): string {
  const out = join(dir, libc);
  mkdirSync(out);
  const cc = spawnSync(LIBCS[libc], ['-O3', nativeMarch(), '-static', '-s', '-Wall', SOURCE, '-o', join(out, 'upper')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`${LIBCS[libc]} failed: ${cc.error?.message ?? cc.stderr}`);
  writeFileSync(join(out, 'Dockerfile'), 'FROM scratch\nCOPY upper /upper\nENTRYPOINT ["/upper"]\n');
  const image = `hayate-bench/upper-${libc}:latest`;
  const env = spawnSync('docker', ['buildx', 'version']).status === 0 ? process.env : { ...process.env, DOCKER_BUILDKIT: '0' };
  const r = spawnSync('docker', ['build', '-q', '-t', image, out], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`docker build of ${image} failed: ${r.stderr}`);
  return image;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' }, calls: { type: 'string', default: '80' } } });
  const probe = await dockerForBench();
  const absent = ['gcc', 'musl-gcc'].find((c) => spawnSync('/bin/sh', ['-c', 'command -v "$0"', c], { stdio: 'ignore' }).status !== 0);
  const reason = !('docker' in probe) ? probe.reason : absent !== undefined ? `${absent} is not installed` : null;
  if (reason !== null || !('docker' in probe)) {
    process.stderr.write(`libc-ab: cannot run: ${reason}\n`);
    process.exitCode = 1;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hayate-libc-ab-'));
  const cluster = await startLocalCluster({ invokers: 1, env: { HAYATE_LOG_LEVEL: 'warn', HAYATE_IMAGE_PREFIXES: 'hayate-' } });
  const nc = await connect({ servers: cluster.nats });
  const client = new InvocationClient(nc, {});
  try {
    const libcs = Object.keys(LIBCS) as Libc[];
    for (const libc of libcs) await deploy(cluster.http, `upper-${libc}`, exampleModule('upper'), { image: buildImage(dir, libc), policy: 'container' });
    const e2e: Record<Libc, number[]> = { musl: [], glibc: [] };
    const exec: Record<Libc, number[]> = { musl: [], glibc: [] };
    const cpuNs: Record<Libc, number> = { musl: 0, glibc: 0 };
    const call = async (libc: Libc, record: boolean): Promise<void> => {
      const { response: r } = await client.call({ function: `upper-${libc}`, input: INPUT, args: [] });
      if (r.status !== 'OK') throw new Error(`upper-${libc}: ${r.status} ${r.errorMessage}`);
      if (record) exec[libc].push(r.timings.execUs);
    };
    for (const libc of libcs) await pacedCalls(30, 0, () => call(libc, false)); // containers started, processes spawned ahead
    const docker = probe.docker;
    const idOf = async (libc: Libc): Promise<string> => (await docker.listContainers({ filters: { label: [`hayate.function=upper-${libc}`] } }))[0]?.Id ?? '';
    const ids: Record<Libc, string> = { musl: await idOf('musl'), glibc: await idOf('glibc') };
    const spreads = await interleaved(libcs, Number(values.rounds), async (libc) => {
      const cpu0 = containerCpuNs(ids[libc]);
      const samples = await pacedCalls(Number(values.calls), 0, () => call(libc, true));
      cpuNs[libc] += containerCpuNs(ids[libc]) - cpu0;
      e2e[libc].push(...samples);
      return quantiles(samples).p50;
    });
    const ms = (us: number) => (us / 1000).toFixed(3);
    for (const libc of libcs) {
      const sp = spreads[libc];
      process.stdout.write(
        `${libc}: e2e p50 ${ms(quantiles(e2e[libc]).p50)} ms (median of rounds ${ms(sp.median)}, rounds ${ms(sp.min)}–${ms(sp.max)}), exec ${ms(quantiles(exec[libc]).p50)} ms, container CPU ${ms(cpuNs[libc] / 1000 / e2e[libc].length)} ms per call\n`,
      );
    }
  } finally {
    client.close();
    await nc.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`libc-ab: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
