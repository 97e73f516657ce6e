/**
 * How the trivial call's cost grows with the work, on the bench's cluster: the first call of a never-seen
 * module (over NATS and HTTP), payload size, and concurrency (with the CPU each process spends per call).
 * Every figure beside its floor measured in the same run.
 */
import { cpuMeter } from './cpu';
import type { BenchContext } from './context';
import { natsRoundTrip, natsThroughput, wasmFirstRun, wasmInProcess } from './floors';
import { deploy, exampleModule, httpCall, httpInvoker, rawCall, uniqueModule } from './hayate-api';
import type { CallOutcome } from './hayate-api';
import type { ConcurrencyRow, FirstCall, PayloadRow } from './results';
import { closedLoop, perSecond, quantiles } from './stats';
import { text } from './workloads';

/** "16 B", "1 KiB", "64 KiB", "1 MiB". */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1 << 20) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

const ratio = (a: number, b: number, digits = 2): number => (b > 0 ? Number((a / b).toFixed(digits)) : 0);

/**
 * The first call of a never-seen module sent right after its deploy returned: each sample deploys a fresh
 * name with a module of its own (new digest), so nothing of it is cached anywhere; p50 over the samples.
 * The floor: a bare NATS round trip plus an in-process compile and first run of a never-seen module (p50 of as many).
 */
export async function firstCalls(ctx: BenchContext, natsRttUs: number): Promise<FirstCall[]> {
  const upper = exampleModule('upper');
  const fresh = Array.from({ length: ctx.plan.firstCallSamples }, (_, i) => uniqueModule(upper, `floor-${i}-${Date.now()}`));
  const floorUs = Math.round(natsRttUs + (await wasmFirstRun(fresh, ['upper'], text(16))).p50);
  const http = httpInvoker(ctx.cluster.http, 1);
  const out: FirstCall[] = [];
  try {
    // the transport's own path (the controller's invoke route, this process's HTTP client) runs warm, as on a
    // platform that serves other functions: a call of another, deployed function first, for as long as the
    // task cells' warm-up; what is never seen is the module
    await deploy(ctx.cluster.http, 'b-first-warm', upper, { policy: 'wasm' });
    for (const transport of ['nats', 'http'] as const) {
      const call = (fn: string): Promise<CallOutcome> => (transport === 'nats' ? rawCall(ctx.nc, fn, text(16)) : httpCall(http, fn, text(16)));
      ctx.progress('first call', `warming the ${transport} path`);
      await closedLoop(1, { calls: ctx.plan.warmupCalls, ms: ctx.plan.warmupMs }, async () => (await call('b-first-warm')).ok);
      ctx.progress('first call', `a new module over ${transport}`);
      const samples: number[] = [];
      let cold = 0;
      for (let i = 0; i < ctx.plan.firstCallSamples; i += 1) {
        const fn = `b-first-${transport}-${i}`;
        await deploy(ctx.cluster.http, fn, uniqueModule(upper, `${fn}-${Date.now()}`), { policy: 'wasm' });
        const start = performance.now();
        const r = await call(fn);
        if (r.ok) samples.push((performance.now() - start) * 1000);
        if (r.cold) cold += 1;
      }
      const e2e = quantiles(samples);
      out.push({ transport, samples: samples.length, e2e_us: e2e, cold_calls: cold, floor_us: floorUs, ratio_to_floor: ratio(e2e.p50, floorUs) });
    }
  } finally {
    http.close();
  }
  return out;
}

/** The trivial task at every payload size of the plan: sequential calls over `hayate.v1.call`. */
export async function payloadSizes(ctx: BenchContext): Promise<PayloadRow[]> {
  await deploy(ctx.cluster.http, 'b-payload', exampleModule('upper'), { policy: 'wasm' });
  const rows: PayloadRow[] = [];
  for (const bytes of ctx.plan.payloads) {
    const label = sizeLabel(bytes);
    ctx.progress('payload', label);
    const input = text(bytes);
    const rtt = await natsRoundTrip(ctx.nc, 2000, input, ctx.plan.payloadMs / 2);
    const inproc = await wasmInProcess(exampleModule('upper'), ['upper'], input, 2000, ctx.plan.payloadMs / 2);
    await closedLoop(1, { calls: 20, ms: ctx.plan.payloadMs / 4 }, async () => (await rawCall(ctx.nc, 'b-payload', input)).ok);
    const loop = await closedLoop(1, { ms: ctx.plan.payloadMs, minCalls: 5 }, async () => (await rawCall(ctx.nc, 'b-payload', input)).ok);
    const e2e = quantiles(loop.samples);
    const floorUs = rtt.p50 + inproc.p50;
    rows.push({ label, bytes, calls: loop.samples.length, e2e_us: e2e, calls_per_s: perSecond(loop), floor_us: floorUs, nats_rtt_us: rtt, wasm_inprocess_us: inproc, ratio_to_floor: ratio(e2e.p50, floorUs) });
  }
  return rows;
}

/**
 * Trivial calls at every concurrency of the plan, over NATS (`hayate.v1.call`) and over HTTP (the
 * controller's invoke route), each beside bare nats.js request/reply at the same concurrency, with the CPU
 * per call of every process (the controller only counts when HTTP is used).
 * @returns the rows and the floor rates by concurrency
 */
export async function concurrencyLevels(ctx: BenchContext): Promise<{ rows: ConcurrencyRow[]; floors: Record<string, number> }> {
  await deploy(ctx.cluster.http, 'b-conc', exampleModule('upper'), { policy: 'wasm' });
  const input = text(16);
  const rows: ConcurrencyRow[] = [];
  const floors: Record<string, number> = {};
  const http = httpInvoker(ctx.cluster.http, Math.max(...ctx.plan.levels));
  try {
    // a platform that has served calls for a while: a fresh controller's invoke route needs ≈8 s of calls
    // one at a time before V8 has optimised it (4 → 0.9 ms p50, bench/warm-up.ts), the invoker ≈4 s
    const transports: [ConcurrencyRow['transport'], (fn: string) => Promise<CallOutcome>, Record<string, number[]>][] = [
      ['nats', (fn) => rawCall(ctx.nc, fn, input), { invokers: ctx.pids.invokers, nats: ctx.pids.nats }],
      ['http', (fn) => httpCall(http, fn, input), { invokers: ctx.pids.invokers, nats: ctx.pids.nats, controller: ctx.pids.controller }],
    ];
    for (const [, call] of transports) await closedLoop(8, { ms: ctx.plan.warmupMs * 4 }, async () => (await call('b-conc')).ok);
    for (const concurrency of ctx.plan.levels) {
      ctx.progress('concurrency', `${concurrency}: floor`);
      const floor = await natsThroughput(ctx.nc, concurrency, ctx.plan.levelMs);
      floors[String(concurrency)] = floor.calls_per_s;
      for (const [transport, call, groups] of transports) {
        ctx.progress('concurrency', `${concurrency} over ${transport}`);
        // steady state, not the JIT's warm-up or the previous cell's backlog: a third of the cell first, unmeasured
        await closedLoop(concurrency, { ms: ctx.plan.levelMs / 3 }, async () => (await call('b-conc')).ok);
        const meter = cpuMeter(groups);
        const loop = await closedLoop(concurrency, { ms: ctx.plan.levelMs }, async () => (await call('b-conc')).ok);
        const cpu = meter.stop(loop.samples.length);
        const rate = perSecond(loop);
        rows.push({ transport, concurrency, calls: loop.samples.length, errors: loop.errors, calls_per_s: rate, e2e_us: quantiles(loop.samples), floor_calls_per_s: floor.calls_per_s, ratio_to_floor: ratio(rate, floor.calls_per_s, 3), cpu });
      }
    }
  } finally {
    http.close();
  }
  return { rows, floors };
}
