/**
 * The seed evaluation per task: hybrid, WASM only and containers only (a fresh function per mode), each
 * with its cold first call, the seed's amounts, and then the three compared in interleaved rounds; and a
 * cold `docker run` per call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvokeResponse } from '../services/common/codec';
import type { BenchContext } from './context';
import { dockerRun } from './docker-run';
import { deploy, exampleModule, functionStatus, uniqueModule } from './hayate-api';
import type { ModeComparison, Row, ShortRounds } from './results';
import { Mode } from './results';
import { batchInterval, closedLoop, interleaved, quantiles, roundOrder, spread } from './stats';
import type { Workload, WorkloadSize } from './workloads';
import { text } from './workloads';

interface Samples {
  startup: number[];
  exec: number[];
  teardown: number[];
  e2e: number[];
  tiers: string[];
  errors: number;
}

type RowBase = Pick<Row, 'mode' | 'workload' | 'size' | 'amount' | 'concurrency' | 'cold'>;

const empty = (): Samples => ({ startup: [], exec: [], teardown: [], e2e: [], tiers: [], errors: 0 });

/** Folds samples into a row; `wallMs` 0 leaves throughput out. */
function toRow(base: RowBase, samples: Samples, wallMs: number, floorUs: number): Row {
  const e2e = quantiles(samples.e2e);
  const tiers: Record<string, number> = {};
  for (const t of samples.tiers) tiers[t] = (tiers[t] ?? 0) + 1 / samples.tiers.length;
  return {
    ...base,
    calls: samples.e2e.length,
    errors: samples.errors,
    startup_us: quantiles(samples.startup),
    exec_us: quantiles(samples.exec),
    teardown_us: quantiles(samples.teardown),
    e2e_us: e2e,
    throughput_per_s: wallMs > 0 ? Math.round((samples.e2e.length / wallMs) * 1000) : 0,
    ratio_to_floor: floorUs > 0 ? Number((e2e.p50 / floorUs).toFixed(2)) : 0,
    tiers: Object.fromEntries(Object.entries(tiers).map(([k, v]) => [k, Number(v.toFixed(3))])),
  };
}

/** `amount` calls of `fn` by `concurrency` callers over `hayate.v1.invoke` (fewer when `ms` runs out), into `into`. */
async function cell(ctx: BenchContext, fn: string, size: WorkloadSize, amount: number, concurrency: number, ms: number, into: Samples = empty(), minCalls = 5) {
  const loop = await closedLoop(concurrency, { calls: amount, ms, minCalls: Math.min(amount, minCalls) }, async () => {
    const t0 = performance.now();
    const { response: r } = await ctx.client.call({ function: fn, input: size.input });
    into.e2e.push((performance.now() - t0) * 1000);
    record(into, r);
    return r.status === 'OK';
  });
  into.errors += loop.errors;
  return { samples: into, wallMs: loop.wallMs };
}

function record(into: Samples, r: InvokeResponse): void {
  into.startup.push(r.timings.startupUs);
  into.exec.push(r.timings.execUs);
  into.teardown.push(r.timings.teardownUs);
  into.tiers.push(r.tier);
}

/** Pause before each cell of the interleaved rounds (see `interleaved`). */
const ROUND_GAP_MS = 50;

/** A call outside the measured cells (warm-up, settling): a failure is noted, not fatal. */
async function unmeasured(ctx: BenchContext, fn: string, size: WorkloadSize): Promise<void> {
  try {
    await ctx.client.call({ function: fn, input: size.input });
  } catch (err: unknown) {
    if (!ctx.notes.some((n) => n.startsWith(`${fn}:`))) ctx.notes.push(`${fn}: a warm-up call failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Calls of another, deployed function before the first task, for as long as a task's warm-up, so that the
 * first task's cold calls measure a never-seen module and not a never-used invoker (its worker threads and
 * event loop still running V8's baseline code: the first run's startup step took 3.7 ms there at 00:39, against
 * 0.04–0.08 ms for every later task's). The first-call dimension warms its transports the same way.
 */
export async function warmPlatform(ctx: BenchContext): Promise<void> {
  ctx.progress('modes', 'warming the platform');
  await deploy(ctx.cluster.http, 'b-modes-warm', exampleModule('upper'), { policy: 'wasm' });
  await warmUp(ctx, 'b-modes-warm', { label: '16 B', input: text(16), args: [] });
}

/** A task's warm-up: unmeasured calls of `fn`, at most `warmupCalls` and `warmupMs`. */
async function warmUp(ctx: BenchContext, fn: string, size: WorkloadSize): Promise<void> {
  const until = performance.now() + ctx.plan.warmupMs;
  for (let i = 0; i < ctx.plan.warmupCalls && performance.now() < until; i += 1) await unmeasured(ctx, fn, size);
}

/**
 * Calls a hybrid function until its tier choice has settled: container warmed and measured, or retired, or
 * never started (hot but its WASM runs too short for a container to win: HAYATE_HOT_MIN_US).
 */
async function settle(ctx: BenchContext, fn: string, size: WorkloadSize): Promise<void> {
  const deadline = Date.now() + ctx.plan.settleMs;
  for (let i = 0; Date.now() < deadline; i += 1) {
    await unmeasured(ctx, fn, size);
    if (i % 10 !== 9) continue;
    const state = await functionStatus(ctx.cluster.http, fn);
    if (state !== undefined && state.container.invocations >= 5 && (state.state === 'container' || state.state === 'wasm')) return;
    // 20 calls and more at 10 calls to be hot: still in WASM with no container means none was worth starting
    if (state !== undefined && i >= 19 && state.state === 'wasm' && state.container.invocations === 0) return;
  }
  ctx.notes.push(`${fn}: hybrid tier choice had not settled when measuring began`);
}

/**
 * Measures every mode on one task. Each mode gets its cold first call, the same warm-up (V8 tiers a
 * module's hot code up from Liftoff to TurboFan in the background: without it the mode measured first looked
 * up to 1.6× slower on the same code), the seed's amounts one mode after the other, and then the modes are
 * compared in interleaved rounds of `roundCalls` sequential calls each (whole cells, not call by call: the
 * container tier's process churn would land on the next WASM call). The warm row of each mode pools its
 * rounds and carries each round's p50.
 */
export async function measureModes(ctx: BenchContext, w: Workload, si: number, size: WorkloadSize, modes: Mode[], floorUs: number): Promise<{ rows: Row[]; comparison: ModeComparison }> {
  const p = ctx.plan;
  const rows: Row[] = [];
  const fns = new Map<Mode, string>();
  for (const mode of modes) {
    const fn = `b-${w.name}-${si}-${mode}`;
    fns.set(mode, fn);
    ctx.progress(`${w.name} ${size.label}`, mode);
    const options: Record<string, string | string[]> = { policy: mode === Mode.hybrid ? 'auto' : mode, arg: size.args, memory_mb: '256' };
    if (mode !== Mode.wasm) options['image'] = `hayate-example/${w.example}:latest`;
    await deploy(ctx.cluster.http, fn, uniqueModule(exampleModule(w.example), `${fn}-${Date.now()}`), options);
    const base = { mode, workload: w.name, size: size.label };
    const cold = await cell(ctx, fn, size, 1, 1, 0);
    rows.push(toRow({ ...base, amount: 1, concurrency: 1, cold: true }, cold.samples, cold.wallMs, floorUs));
    if (mode === Mode.hybrid) await settle(ctx, fn, size);
    await warmUp(ctx, fn, size);
    for (const amount of p.sequential) {
      const c = await cell(ctx, fn, size, amount, 1, p.cellBudgetMs);
      rows.push(toRow({ ...base, amount, concurrency: 1, cold: false }, c.samples, c.wallMs, floorUs));
    }
    for (const concurrency of p.concurrency) {
      const c = await cell(ctx, fn, size, p.concurrentCalls, concurrency, p.cellBudgetMs);
      rows.push(toRow({ ...base, amount: p.concurrentCalls, concurrency, cold: false }, c.samples, c.wallMs, floorUs));
    }
  }
  ctx.progress(`${w.name} ${size.label}`, 'modes in interleaved rounds');
  const pooled = new Map<Mode, { samples: Samples; wallMs: number }>(modes.map((m) => [m, { samples: empty(), wallMs: 0 }]));
  const spreads = await interleaved(modes, p.rounds, async (mode) => {
    const into = pooled.get(mode)!;
    const before = into.samples.e2e.length;
    // at least 3 calls a round: a round p50 of fewer is one call's latency
    const c = await cell(ctx, fns.get(mode)!, size, p.roundCalls, 1, p.roundMs, into.samples, 3);
    into.wallMs += c.wallMs;
    return quantiles(into.samples.e2e.slice(before)).p50;
  }, ROUND_GAP_MS);
  for (const mode of modes) {
    const { samples, wallMs } = pooled.get(mode)!;
    rows.push({ ...toRow({ mode, workload: w.name, size: size.label, amount: samples.e2e.length, concurrency: 1, cold: false }, samples, wallMs, floorUs), round_p50_us: spreads[mode] });
  }
  const singles = modes.filter((m) => m !== Mode.hybrid);
  const best = singles.length === 0 ? null : singles.reduce((a, b) => (spreads[b].median < spreads[a].median ? b : a));
  const compared = best !== null && modes.includes(Mode.hybrid);
  if (compared) ctx.progress(`${w.name} ${size.label}`, `hybrid and ${best} in short rounds`);
  // the two alone: a third mode's cells between theirs only add its own after-effects (a container's churn)
  const short = compared ? await shortRounds(ctx, [Mode.hybrid, best], fns, size, spreads[best].median) : undefined;
  return {
    rows,
    comparison: {
      workload: w.name,
      size: size.label,
      rounds: p.rounds,
      calls_per_round: p.roundCalls,
      p50_us: Object.fromEntries(modes.map((m) => [m, spreads[m]])),
      short_rounds: short,
      best_single: best,
      hybrid_vs_best: compared ? ratio(short?.p50_us[Mode.hybrid] ?? 0, short?.p50_us[best] ?? 0) : 0,
      hybrid_vs_best_rounds: compared ? pairedRatio(spreads[Mode.hybrid].rounds, spreads[best].rounds) : 0,
    },
  };
}

const ratio = (a: number, b: number): number => (a > 0 && b > 0 ? Number((a / b).toFixed(3)) : 0);

/** Pause before each cell of the short rounds: shorter than the long rounds', as the cells are (the churn a container leaves is ≈2 ms of CPU). */
const SHORT_GAP_MS = 20;

/**
 * The hybrid and the best single tier again, alone, in many short rounds (A B, B A, …; `roundOrder`), each
 * cell about `shortCellMs` of calls (5 at least): a round lasts tens of ms where a long round of the three
 * modes lasts seconds, over which a round's p50 moved 10–40 % on this VM. With both sides' calls spread evenly
 * over the same short stretches, drift lands on both alike; each side's figure is the p50 of all its calls
 * there. Cells, not single calls: a container call's teardown and next spawn would land on the call after it.
 * Rounds go on until the ratio's 95 % interval (`batchInterval`) is within ±`shortHalfWidth`, or `shortMs`
 * has passed: a 1 MiB input's calls alone spread over 13–31 ms (p10–p90) on the same path, where a trivial
 * call's stay within a few %. `typicalUs` sizes the cells.
 */
async function shortRounds(ctx: BenchContext, modes: [Mode, Mode], fns: Map<Mode, string>, size: WorkloadSize, typicalUs: number): Promise<ShortRounds> {
  const p = ctx.plan;
  const [a, b] = modes;
  const calls = Math.max(5, Math.min(p.roundCalls, Math.round((p.shortCellMs * 1000) / Math.max(1, typicalUs))));
  const rounds: Array<[number[], number[]]> = [];
  const until = performance.now() + p.shortMs;
  while (rounds.length < p.shortRounds && (rounds.length < p.minShortRounds || performance.now() < until)) {
    const round: [number[], number[]] = [[], []];
    for (const mode of roundOrder(modes, rounds.length)) {
      await sleep(SHORT_GAP_MS);
      const into = empty();
      // the call count decides a cell; the time cap only ends one that runs far slower than the long rounds said
      await cell(ctx, fns.get(mode)!, size, calls, 1, p.shortCellMs * 20, into, 5);
      round[mode === a ? 0 : 1] = into.e2e;
    }
    rounds.push(round);
    if (rounds.length < p.minShortRounds || rounds.length % BLOCKS !== 0) continue;
    const { low, high } = batchInterval(rounds, BLOCKS);
    if ((high - low) / 2 <= p.shortHalfWidth) break;
  }
  const interval = batchInterval(rounds, BLOCKS);
  const pa = quantiles(rounds.flatMap((r) => r[0])).p50;
  const pb = quantiles(rounds.flatMap((r) => r[1])).p50;
  const each = spread(rounds.map((r) => ratio(quantiles(r[0]).p50, quantiles(r[1]).p50)).filter((x) => x > 0));
  return { rounds: rounds.length, calls_per_cell: calls, p50_us: { [a]: pa, [b]: pb }, ratio_interval: { low: Number(interval.low.toFixed(3)), high: Number(interval.high.toFixed(3)) }, hybrid_vs_best_per_round: each };
}

/** Blocks of consecutive rounds in `batchInterval`. */
const BLOCKS = 8;

/**
 * The median over rounds of a round's `a` ÷ the same round's `b` (0 when not measured): cells of one round
 * run next to each other, so a drift of the machine over the run (round p50s here fell 2× over a few seconds
 * of calls) cancels out of each ratio instead of landing on whichever mode it favours.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const ratios = a.flatMap((v, i) => (v > 0 && (b[i] ?? 0) > 0 ? [v / b[i]!] : []));
  return ratios.length === 0 ? 0 : Number(spread(ratios).median.toFixed(3));
}

/** A cold `docker run` per call: the first, then `dockerRunCalls` more (every one is cold). */
export async function measureDockerRun(ctx: BenchContext, w: Workload, size: WorkloadSize, floorUs: number): Promise<Row[]> {
  ctx.progress(`${w.name} ${size.label}`, 'docker-run');
  const image = `hayate-example/${w.example}:latest`;
  const base = { mode: Mode.dockerRun, workload: w.name, size: size.label, concurrency: 1, cold: true };
  const first = empty();
  const rest = empty();
  const t0 = performance.now();
  let restStart = t0;
  for (let i = 0; i < 1 + ctx.plan.dockerRunCalls; i += 1) {
    if (i === 1) restStart = performance.now();
    const into = i === 0 ? first : rest;
    const r = await dockerRun(ctx.docker!, image, size.args, size.input);
    into.startup.push(r.startupUs);
    into.exec.push(r.execUs);
    into.teardown.push(r.teardownUs);
    into.e2e.push(r.e2eUs);
    into.tiers.push('docker-run');
    if (r.exitCode !== 0) into.errors += 1;
  }
  // every docker run is cold: the second row is the same cold path repeated
  const rows = [toRow({ ...base, amount: 1 }, first, 0, floorUs)];
  if (ctx.plan.dockerRunCalls > 0) rows.push(toRow({ ...base, amount: ctx.plan.dockerRunCalls }, rest, performance.now() - restStart, floorUs));
  return rows;
}
