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
