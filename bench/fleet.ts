/**
 * Many deployed functions called round robin: the same small module deployed under N names, each made
 * unique (its own digest, so its own fetch, compile and cache entry) with its own spec. Many cold functions
 * and a few hot ones is the edge's usual shape; the module cache's bytes limit decides what stays compiled.
 */
import type { BenchContext } from './context';
import { deploy, exampleModule, moduleCacheBytes, rawCall, uniqueModule } from './hayate-api';
import type { FleetRow } from './results';
import { closedLoop, perSecond, quantiles } from './stats';

/** Deploys made at a time: the controller's deploy is an object store put and a KV put, mostly waiting on NATS. */
const DEPLOY_CONCURRENCY = 16;
/** Calls in flight while going round robin. */
const CALL_CONCURRENCY = 4;

const input = Buffer.from('hello, edge!    ');

/** Deploys `names`, `DEPLOY_CONCURRENCY` at a time. */
async function deployAll(ctx: BenchContext, names: string[]): Promise<void> {
  const upper = exampleModule('upper');
  let next = 0;
  const lane = async () => {
    while (next < names.length) {
      const fn = names[next++]!;
      await deploy(ctx.cluster.http, fn, uniqueModule(upper, `${fn}-${Date.now()}`), { policy: 'wasm' });
    }
  };
  await Promise.all(Array.from({ length: DEPLOY_CONCURRENCY }, lane));
}

/** `total` calls over `names` round robin (from the first), `CALL_CONCURRENCY` in flight: latencies, rate and cold starts. */
async function roundRobin(ctx: BenchContext, names: string[], total: number, floorUs: number): Promise<FleetRow['first']> {
  let next = 0;
  let cold = 0;
  const loop = await closedLoop(CALL_CONCURRENCY, { calls: total, ms: 10 * 60_000, minCalls: total }, async () => {
    const r = await rawCall(ctx.nc, names[next++ % names.length]!, input);
    if (r.cold) cold += 1;
    return r.ok;
  });
  const e2e = quantiles(loop.samples);
  return { calls: loop.samples.length, cold_calls: cold, errors: loop.errors, e2e_us: e2e, calls_per_s: perSecond(loop), ratio_to_floor: floorUs > 0 ? Number((e2e.p50 / floorUs).toFixed(2)) : 0 };
}

/**
 * For every count of the plan: deploy that many fresh functions, call each once (first calls: cold unless
 * the deploy-time prefetch compiled it), then go on round robin from the first: `fleetSteadyRounds` rounds
 * (at least 100 calls, at most `fleetSteadyMaxCalls`: a partial round in a quick run).
 * @param floorUs the trivial task's floor (NATS round trip + in-process run)
 * @param cacheLimitBytes the invokers' module cache bound (HAYATE_MODULE_CACHE_MB)
 */
export async function fleet(ctx: BenchContext, floorUs: number, cacheLimitBytes: number): Promise<FleetRow[]> {
  const rows: FleetRow[] = [];
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  for (const n of ctx.plan.fleet) {
    ctx.progress('functions', `${n}: deploying`);
    const before = sum(await moduleCacheBytes(ctx.cluster.http));
    const names = Array.from({ length: n }, (_, i) => `b-fleet-${n}-${i}`);
    const t0 = performance.now();
    await deployAll(ctx, names);
    const deployMs = Math.round(performance.now() - t0);
    ctx.progress('functions', `${n}: round robin`);
    const first = await roundRobin(ctx, names, n, floorUs);
    // at least 100 steady calls, so that one function's p50 is not from a handful of samples
    const steady = await roundRobin(ctx, names, Math.min(ctx.plan.fleetSteadyMaxCalls, Math.max(100, n * ctx.plan.fleetSteadyRounds)), floorUs);
    const after = sum(await moduleCacheBytes(ctx.cluster.http));
    rows.push({ functions: n, deploy_ms: deployMs, deploy_concurrency: DEPLOY_CONCURRENCY, concurrency: CALL_CONCURRENCY, first, steady, module_cache_bytes: { before, after, limit: cacheLimitBytes } });
  }
  return rows;
}
