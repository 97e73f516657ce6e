/**
 * Short runs on the invoker's event-loop thread. A trivial call handed to a worker thread and back costs
 * two thread wake-ups and two structured clones, about half of the invoker's CPU per call on this kind of VM
 * (measured: 0.30 → 0.13 ms per call, 3,600 → 6,400 calls/s, docs/evaluation.md). So a function whose runs are
 * short runs here, on the fuel-metered copy of its module (wasm-fuel.ts), within three bounds that keep the
 * event loop its own:
 *
 * - **Fuel**: at most `INLINE_FUEL` instructions (a few ms; `FIRST_FUEL` on a function's first run here),
 *   counted by the module itself; when it runs out the run traps.
 * - **Host deadline**: every WASI call checks `hostDeadline` (its own cost is not counted by fuel), and a call
 *   that would sleep (`poll_oneoff`) is refused here.
 * - **Files**: /tmp holds at most `INLINE_FS_BYTES` here; JS heap on this thread is everyone's.
 *
 * A run that hits a bound, or overflows the stack (this thread's is smaller than a worker's), is abandoned:
 * its output is dropped and the call runs again, from the start, on a worker thread, where it gets its whole
 * timeout and limits. Nothing of the abandoned run is kept (the memory is zeroed before any reuse), so the
 * caller sees what a worker run gives. Its function then runs on workers only for `DEMOTED_MS` (doubling at
 * each new overrun, up to `DEMOTED_MAX_MS`), as does a function whose run here used over `HEAVY_FUEL`. One
 * bound is forgiven once: the host deadline is wall time, and a GC pause or a core taken from this VM in the
 * middle of a run passes it for any function, where fuel, the stack and the files are the function's own
 * doing. A function whose run passed it is demoted at the second time within `DEMOTED_MS` (a host-call-heavy
 * function costs the event loop two abandoned runs instead of one; the lane's pause bounds many of them).
 * Functions with files run on workers (their bundles live there).
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../../common/logger';
import { FUEL_EXPORT, INLINE_FUEL } from '../../../common/wasm-fuel';
import type { Prepared, RunShape } from './instances';
import { instantiate, keyOf, recycle, runInstance } from './instances';
import type { PoolRunMessage, PoolRunResult } from './slot';
import { HostDeadlinePassed, hostDeadline, InlineOverrun } from './wasi/guest-memory';

/** Host calls of one run here end by then (ms after it starts). */
const HOST_DEADLINE_MS = 50;
/**
 * A function whose run here used more fuel moves to the workers (its answer stands). Fuel, not time: it is
 * the same on every run of the same input, where this VM's GC pauses and stolen cores made runs of a 5 µs
 * function pass 1 ms three times in a row under load.
 */
const HEAVY_FUEL = INLINE_FUEL / 2;
/**
 * The fuel of a function's first run here (and of its first after a demotion): a function that needs more
 * runs on workers. A heavy function's first call then loses at most this much on the event loop before it
 * moves (≈0.6–1.2 ms, where the whole budget took 2–8 ms with V8's lazy compilation of a first run).
 */
const FIRST_FUEL = 600_000;
/** Functions remembered as short (the least recently used forgotten first). */
const PROVEN_KEPT = 4096;
/** What the files of a run here may hold. */
const INLINE_FS_BYTES = 1024 * 1024;
const DEMOTED_MS = 30_000;
const DEMOTED_MAX_MS = 3_600_000;
/**
 * Abandoned runs cost the event loop up to a few ms each, once per function per demotion: past this many in
 * `OVERRUN_WINDOW_MS` (a tenant with many functions that spin), the lane takes no call for that window.
 */
const OVERRUNS_MAX = 20;
const OVERRUN_WINDOW_MS = 10_000;
/** Spare memories kept per module: as many as the runs of a busy event loop hold between their chores (bounded in bytes by `recycle`). */
const SPARE_MEMORIES = 256;
/** Instances prepared ahead, one per function shape, the least recently used dropped first. */
const PREPARED_MAX = 16;
/** Functions remembered as demoted (the least recently used forgotten first). */
const DEMOTED_KEPT = 4096;

/** How many runs went where, for status and tests. */
export interface InlineCounts {
  runs: number;
  overruns: number;
}

export class InlineLane {
  /** Functions whose run passed its host deadline and were forgiven, with when (ms, `performance.now()`). */
  private readonly strikes = new LRUCache<string, number>({ max: DEMOTED_KEPT });
  /** Functions on workers only, until (ms, `performance.now()`), and how long their last demotion was. */
  private readonly demoted = new LRUCache<string, { until: number; forMs: number }>({ max: DEMOTED_KEPT });
  private readonly prepared = new LRUCache<string, Prepared>({ max: PREPARED_MAX });
  /** Functions whose last run here fitted in `FIRST_FUEL`: they get `INLINE_FUEL`. */
  private readonly proven = new LRUCache<string, true>({ max: PROVEN_KEPT });
  /** Work left for after the answers of this turn are out: preparing instances, zeroing memories. */
  private readonly chores: (() => void)[] = [];
  readonly counts: InlineCounts = { runs: 0, overruns: 0 };
  /** When the last overruns were (ms), oldest first, at most `OVERRUNS_MAX`. */
  private readonly overrunsAt: number[] = [];
  /** The lane takes no call before this (ms, `performance.now()`). */
  private pausedUntil = 0;

  constructor(private readonly log: Logger) {}

  /** Whether `owner`'s calls may run here now. */
  takes(owner: string): boolean {
    if (this.pausedUntil !== 0 && performance.now() < this.pausedUntil) return false;
    const d = this.demoted.get(owner);
    if (d === undefined) return true;
    return performance.now() >= d.until;
  }

  /**
   * Runs `msg` here, on `fueled` (the metered copy of its module; `msg.module` is the workers').
   * @returns its result, or null when the run must go to a worker: it has files (their bundles live in the
   *   workers), or a bound was hit (the run's effects are gone)
   */
  run(owner: string, msg: PoolRunMessage, fueled: WebAssembly.Module): PoolRunResult | null {
    if (msg.files !== null) return null;
    const t0 = performance.now();
    const key = keyOf(msg);
    let p = this.prepared.get(key);
    if (p !== undefined) this.prepared.delete(key);
    else {
      try {
        p = this.instantiate(fueled, msg, false);
      } catch {
        return this.overrun(owner, 'instantiation failed'); // a worker reports the error itself
      }
    }
    const fuel = p.instance.exports[FUEL_EXPORT] as WebAssembly.Global;
    const budget = this.proven.has(owner) ? INLINE_FUEL : FIRST_FUEL;
    fuel.value = budget;
    const t1 = performance.now();
    hostDeadline.at = t1 + HOST_DEADLINE_MS;
    let ran: ReturnType<typeof runInstance>;
    try {
      ran = runInstance(p, msg);
    } catch (err: unknown) {
      if (!(err instanceof InlineOverrun)) throw err;
      this.later(p, msg, null);
      return this.overrun(owner, err.message, err instanceof HostDeadlinePassed);
    } finally {
      hostDeadline.at = 0;
    }
    const hit = this.boundHit(p, ran, fuel, msg.memoryLimitBytes);
    if (hit !== null) {
      this.later(p, msg, null);
      return this.overrun(owner, hit);
    }
    this.counts.runs += 1;
    const used = budget - (fuel.value as number);
    if (used > HEAVY_FUEL) this.demote(owner, `a run used ${used} of its ${budget} fuel`);
    else if (budget === FIRST_FUEL) this.proven.set(owner, true);
    this.later(p, msg, fueled);
    return { type: 'result', id: 0, outcome: ran.outcome, stdout: ran.stdout, stderr: ran.stderr, startupUs: Math.round((t1 - t0) * 1000), execUs: Math.round((ran.ended - ran.started) * 1000), teardownUs: Math.round((ran.collected - ran.ended) * 1000) };
  }

  /** Prepares the first instance of a function just deployed, after this turn's answers. */
  prepareAhead(fueled: WebAssembly.Module, shape: RunShape & { files: null }): void {
    this.chore(() => this.prepare(fueled, shape));
  }

  /** Why a run's outcome is the bound's doing rather than the function's, or null. */
  private boundHit(p: Prepared, ran: ReturnType<typeof runInstance>, fuel: WebAssembly.Global, memoryLimitBytes: number): string | null {
    if ((fuel.value as number) < 0) return 'fuel ran out';
    if (ran.outcome.kind === 'trapped' && ran.outcome.message.startsWith('Maximum call stack')) return 'stack overflow';
    if (p.wasi.fs.full && INLINE_FS_BYTES < memoryLimitBytes) return 'files outgrew what runs here may hold';
    return null;
  }

  /** An instance for runs here; its start section (if any) runs under the same bounds as a run. */
  private instantiate(fueled: WebAssembly.Module, shape: RunShape, ahead: boolean): Prepared {
    hostDeadline.at = performance.now() + HOST_DEADLINE_MS;
    try {
      return instantiate(fueled, shape, ahead, undefined, Math.min(shape.memoryLimitBytes, INLINE_FS_BYTES));
    } finally {
      hostDeadline.at = 0;
    }
  }

  /** A run abandoned: its function demoted, unless `forgivable` and the first such within `DEMOTED_MS`. */
  private overrun(owner: string, why: string, forgivable = false): null {
    this.counts.overruns += 1;
    const now = performance.now();
    const struck = this.strikes.get(owner);
    if (forgivable && (struck === undefined || now - struck >= DEMOTED_MS)) {
      this.strikes.set(owner, now);
      this.log.info({ fn: owner, why }, 'run abandoned on the event-loop thread and run again on a worker; its function stays here unless it happens again');
    } else {
      this.strikes.delete(owner);
      this.demote(owner, why);
    }
    this.overrunsAt.push(now);
    if (this.overrunsAt.length > OVERRUNS_MAX) {
      const first = this.overrunsAt.shift() as number;
      if (now - first < OVERRUN_WINDOW_MS) {
        this.pausedUntil = now + OVERRUN_WINDOW_MS;
        this.log.warn({ overruns: OVERRUNS_MAX + 1, windowMs: OVERRUN_WINDOW_MS }, 'inline lane paused: too many runs abandoned');
      }
    }
    return null;
  }

  private demote(owner: string, why: string): void {
    this.proven.delete(owner);
    const last = this.demoted.get(owner);
    const forMs = last === undefined ? DEMOTED_MS : Math.min(DEMOTED_MAX_MS, last.forMs * 2);
    this.demoted.set(owner, { until: performance.now() + forMs, forMs });
    this.log.info({ fn: owner, why, forMs }, 'function runs on worker threads only for a while');
  }

  /** After this turn's answers: the memory zeroed for reuse and, with `fueled`, the next instance prepared. */
  private later(p: Prepared, shape: RunShape, fueled: WebAssembly.Module | null): void {
    this.chore(() => {
      recycle(p.memory, shape, SPARE_MEMORIES);
      if (fueled !== null) this.prepare(fueled, shape);
    });
  }

  private prepare(fueled: WebAssembly.Module, shape: RunShape): void {
    const key = keyOf(shape);
    if (this.prepared.has(key)) return;
    try {
      const p = this.instantiate(fueled, shape, true);
      (p.instance.exports[FUEL_EXPORT] as WebAssembly.Global).value = INLINE_FUEL;
      this.prepared.set(key, p);
    } catch {
      // its run instantiates on demand and reports the error itself
    }
  }

  /**
   * Runs `chore` in the check phase after the next one: the answers of this turn go out in this turn's
   * check phase (EndOfTurn), and this work must not delay them.
   */
  private chore(chore: () => void): void {
    this.chores.push(chore);
    if (this.chores.length > 1) return;
    setImmediate(() =>
      setImmediate(() => {
        for (const c of this.chores.splice(0)) c();
      }),
    );
  }
}
