/** Percentiles and spreads of bench samples, and the closed-loop load driver every bench cell uses. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface Quantiles {
  p50: number;
  p99: number;
}

/** The p50 and p99 (nearest rank) of `samples`; zeros when empty. */
export function quantiles(samples: readonly number[]): Quantiles {
  if (samples.length === 0) return { p50: 0, p99: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  return { p50: Math.round(at(0.5)), p99: Math.round(at(0.99)) };
}

/** Microseconds since `t0` (a performance.now() reading). */
export function usSince(t0: number): number {
  return (performance.now() - t0) * 1000;
}

/** A figure measured in several interleaved rounds: each round's value, their median, min and max. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number[];
}

/** The median (lower middle for an even count), min and max of `rounds`; zeros when empty. */
export function spread(rounds: readonly number[]): Spread {
  if (rounds.length === 0) return { median: 0, min: 0, max: 0, rounds: [] };
  const sorted = [...rounds].sort((a, b) => a - b);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, rounds: [...rounds] };
}

/**
 * The order of the keys in round `round`: rotated by one each round (A B C, B C A, C A B), and reversed every
 * other cycle of rotations (C B A, A C B, B A C), so that over two cycles every key runs right after every
 * other key equally often. With rotations alone one key follows a given other one twice as often as the
 * rest: in the bench the WASM-only mode followed the container mode's cell (whose process churn slows the
 * next calls) a third of the time and the hybrid two thirds, which made the hybrid look 6–12 % slower.
 */
export function roundOrder<K>(keys: readonly K[], round: number): K[] {
  const n = keys.length;
  const rotated = keys.map((_, i) => keys[(i + round) % n]!);
  return Math.floor(round / n) % 2 === 0 ? rotated : rotated.reverse();
}

/**
 * Measures every key once per round, `rounds` times, interleaved in `roundOrder` (no key runs more often
 * right after another), with a pause of `gapMs` before each measurement so that what one cell leaves running
 * (a container spawning its next process, garbage collection) is over before the next starts. Drift between
 * cells measured seconds apart then spreads over every key instead of deciding their comparison.
 * @returns each key's round values as a `Spread`
 */
export async function interleaved<K extends string>(keys: readonly K[], rounds: number, measure: (key: K, round: number) => Promise<number>, gapMs = 0): Promise<Record<K, Spread>> {
  const values = new Map<K, number[]>(keys.map((k) => [k, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (const key of roundOrder(keys, round)) {
      if (gapMs > 0) await sleep(gapMs);
      values.get(key)!.push(await measure(key, round));
    }
  }
  return Object.fromEntries(keys.map((k) => [k, spread(values.get(k)!)])) as Record<K, Spread>;
}

/**
 * `count` calls one at a time, each `gapMs` after the previous answer (the gap is not measured; 0: back to
 * back): the latency of each (µs). A call that throws ends the run.
 */
export async function pacedCalls(count: number, gapMs: number, once: () => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    if (gapMs > 0) await sleep(gapMs);
    const start = performance.now();
    await once();
    samples.push(usSince(start));
  }
  return samples;
}

/** Latencies of the calls that succeeded, the failed count and the wall time of a closed-loop run. */
export interface LoopResult {
  samples: number[];
  errors: number;
  wallMs: number;
}

/** When a closed loop stops issuing calls. */
export interface LoopBudget {
  /** At most this many calls in all. @default unbounded */
  calls?: number;
  /** Stop issuing after this long… */
  ms: number;
  /** …but only once at least this many were issued. @default 1 */
  minCalls?: number;
}

/**
 * Keeps `concurrency` calls in flight (each lane issues its next call when its last one answered) until the
 * budget ends. `once(lane)` makes one call and tells whether it succeeded; a throw counts as a failure.
 * Latency (µs, at the caller) is kept for successes only.
 */
export async function closedLoop(concurrency: number, budget: LoopBudget, once: (lane: number) => Promise<boolean>): Promise<LoopResult> {
  const samples: number[] = [];
  let errors = 0;
  let issued = 0;
  const t0 = performance.now();
  const deadline = t0 + budget.ms;
  const more = () => issued < (budget.calls ?? Number.POSITIVE_INFINITY) && (issued < (budget.minCalls ?? 1) || performance.now() < deadline);
  const lane = async (i: number): Promise<void> => {
    while (more()) {
      issued += 1;
      const start = performance.now();
      try {
        if (await once(i)) samples.push(usSince(start));
        else errors += 1;
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => lane(i)));
  return { samples, errors, wallMs: performance.now() - t0 };
}

/** Calls per second of a loop: successes over its wall time. */
export function perSecond(loop: LoopResult): number {
  return loop.wallMs > 0 ? Math.round((loop.samples.length / loop.wallMs) * 1000) : 0;
}

/** Student's t at 97.5 % for 1–15 degrees of freedom (a 95 % two-sided interval). */
const T975 = [12.71, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131];

/**
 * A 95 % interval of p50(a) ÷ p50(b) over paired rounds, by batch means: the rounds are cut into `blocks`
 * runs of consecutive rounds, the ratio of the two p50s taken in each, and the interval is their mean ± t ×
 * their standard error. Consecutive rounds share the machine's state, so rounds are not independent; blocks
 * of many rounds nearly are. Zeros when there are fewer rounds than blocks.
 */
export function batchInterval(rounds: ReadonlyArray<readonly [readonly number[], readonly number[]]>, blocks: number): { low: number; high: number } {
  if (rounds.length < blocks || blocks < 2) return { low: 0, high: 0 };
  const ratios: number[] = [];
  for (let k = 0; k < blocks; k += 1) {
    const part = rounds.slice(Math.floor((k * rounds.length) / blocks), Math.floor(((k + 1) * rounds.length) / blocks));
    const b = quantiles(part.flatMap((r) => r[1])).p50;
    if (b > 0) ratios.push(quantiles(part.flatMap((r) => r[0])).p50 / b);
  }
  if (ratios.length < 2) return { low: 0, high: 0 };
  const mean = ratios.reduce((x, y) => x + y, 0) / ratios.length;
  const sd = Math.sqrt(ratios.reduce((x, y) => x + (y - mean) ** 2, 0) / (ratios.length - 1));
  const half = (T975[Math.min(ratios.length - 1, T975.length) - 1] ?? 2) * (sd / Math.sqrt(ratios.length));
  return { low: mean - half, high: mean + half };
}
