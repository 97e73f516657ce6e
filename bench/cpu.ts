/**
 * CPU time of the processes a benchmark drives, read from /proc: per group of processes (invokers with
 * their WASM worker threads, nats-server, the controller) and this load generator, over a measured window,
 * with what the rest of the machine used meanwhile (a figure taken beside a busy neighbour is not a ceiling).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times. */
export const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** The group name this process's own CPU is reported under. */
export const LOAD_GENERATOR = 'load generator';

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

/** CPU seconds the whole machine has been busy (every core; idle and iowait excluded). */
export function machineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) / TICKS;
}

/** CPU one group used over a window: % of one core, and milliseconds per served call. */
export interface CpuShare {
  percent: number;
  ms_per_call: number;
}

/** CPU used over a window, by group (and `load generator`), in total, and by the rest of the machine. */
export interface CpuUse {
  groups: Record<string, CpuShare>;
  total: CpuShare;
  /** % of one core that other programs used meanwhile. */
  other_percent: number;
}

/** A running CPU measurement: `stop(calls)` ends the window and divides by the calls served in it. */
export interface CpuMeter {
  stop(calls: number): CpuUse;
}

/**
 * Starts measuring the CPU of `groups` (name → process ids) and of this process.
 * Resolution is /proc's clock tick (10 ms): windows of a second or more keep the error within a few %.
 */
export function cpuMeter(groups: Record<string, number[]>): CpuMeter {
  const sum = (pids: number[]) => pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
  const before = Object.fromEntries(Object.entries(groups).map(([name, pids]) => [name, sum(pids)]));
  const self = process.cpuUsage();
  const machine = machineBusySeconds();
  const t0 = performance.now();
  return {
    stop(calls) {
      const elapsedS = Math.max(1e-6, (performance.now() - t0) / 1000);
      const used: Record<string, number> = {};
      for (const [name, pids] of Object.entries(groups)) used[name] = sum(pids) - (before[name] ?? 0);
      const mine = process.cpuUsage(self);
      used[LOAD_GENERATOR] = (mine.user + mine.system) / 1e6;
      const share = (seconds: number): CpuShare => ({ percent: Math.round((seconds / elapsedS) * 100), ms_per_call: calls > 0 ? Number(((seconds * 1000) / calls).toFixed(3)) : 0 });
      const totalS = Object.values(used).reduce((a, b) => a + b, 0);
      return {
        groups: Object.fromEntries(Object.entries(used).map(([name, s]) => [name, share(s)])),
        total: share(totalS),
        other_percent: Math.max(0, Math.round(((machineBusySeconds() - machine - totalS) / elapsedS) * 100)),
      };
    },
  };
}
