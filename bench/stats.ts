/** Percentiles of bench samples, and CPU time of processes from /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times. */
export const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system, every thread) a process has used; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

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
