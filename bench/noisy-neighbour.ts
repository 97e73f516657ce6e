/**
 * Issue 11, finding 3: another function's latency while one function holds every worker. One invoker with
 * 2 workers; `upper` is called over NATS (`hayate.v1.call`) one call at a time, alone, then while `primes`
 * runs as many long calls as its max_concurrency allows (every worker busy for seconds). Run twice in the
 * same process: with spare workers (HAYATE_SPARE_WORKERS = workers, the default) and without (0, as before).
 *
 *   node dist/bench/noisy-neighbour.js [--calls N]
 */
import { parseArgs } from 'node:util';
import { connect, headers as natsHeaders } from 'nats';
import { startLocalCluster } from '../services/common/local-cluster';
import { deploy, exampleModule } from './hayate-api';
import { quantiles } from './stats';

interface Figures {
  spares: number;
  aloneP50Ms: number;
  aloneP99Ms: number;
  busyP50Ms: number;
  busyP99Ms: number;
  busyFailed: number;
}

async function measure(spares: number, calls: number): Promise<Figures> {
  const cluster = await startLocalCluster({ invokers: 1, args: ['--workers', '2'], env: { HAYATE_SPARE_WORKERS: String(spares) } });
  const nc = await connect({ servers: cluster.nats });
  try {
    await deploy(cluster.http, 'upper', exampleModule('upper'));
    // a sieve of 4e8 bytes: about a second per call (the default 128 MiB would end it at once: NULL malloc)
    await deploy(cluster.http, 'primes', exampleModule('primes'), { timeout_ms: '60000', memory_mb: '1024' });
    const series = async (): Promise<{ ms: number[]; failed: number }> => {
      const ms: number[] = []; // µs
      let failed = 0;
      for (let i = 0; i < calls; i += 1) {
        const t0 = performance.now();
        const m = await nc.request('hayate.v1.call.upper', Buffer.from('neighbour'), { timeout: 30_000 });
        ms.push((performance.now() - t0) * 1000);
        if (m.headers?.get('Hayate-Status') !== 'OK') failed += 1;
      }
      return { ms, failed };
    };
    await series(); // warm-up
    const alone = await series();
    const h = natsHeaders();
    h.set('Hayate-Arg', '400000000');
    // the hog: as many long calls as its default max_concurrency (= workers) lets run, and more waiting,
    // sent again as each ends, for as long as the neighbour's series lasts
    let hogging = true;
    const hogLoop = async (): Promise<void> => {
      while (hogging) await nc.request('hayate.v1.call.primes', Buffer.alloc(0), { timeout: 120_000, headers: h }).catch(() => undefined);
    };
    const hog = Array.from({ length: 4 }, hogLoop);
    await new Promise((r) => setTimeout(r, 500));
    const busy = await series();
    hogging = false;
    await Promise.all(hog);
    const a = quantiles(alone.ms);
    const b = quantiles(busy.ms);
    return { spares, aloneP50Ms: a.p50 / 1000, aloneP99Ms: a.p99 / 1000, busyP50Ms: b.p50 / 1000, busyP99Ms: b.p99 / 1000, busyFailed: busy.failed };
  } finally {
    await nc.close();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '100' } } });
  const calls = Number(values.calls);
  for (const spares of [2, 0]) {
    const f = await measure(spares, calls);
    const r = (x: number): string => x.toFixed(2);
    process.stdout.write(`spare workers ${f.spares}: upper alone p50 ${r(f.aloneP50Ms)} ms p99 ${r(f.aloneP99Ms)} ms; while primes holds every worker p50 ${r(f.busyP50Ms)} ms p99 ${r(f.busyP99Ms)} ms (${f.busyFailed} of ${calls} not OK)\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`noisy-neighbour: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
