/** Percentiles of bench samples. */

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
