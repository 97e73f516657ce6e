/**
 * The tier policy of an invoker with both tiers (SPEC §3). Per function:
 * - `wasm` policy, or no image: always WASM.
 * - `container` policy: always the container (the first call waits for it to start).
 * - `auto`: WASM at once. When the function is hot (`hotCalls` calls within `hotWindowMs`) and its WASM runs
 *   take at least `minWasmUs` (exec p50: shorter runs cannot win back a container call's fixed cost), a container is
 *   started in the background (`warming`, which never blocks a request); once ready (`container`) calls
 *   alternate between the tiers, the container's first `SETTLE_CALLS` unmeasured (a fresh container is at its
 *   slowest), then the two are measured afresh, side by side, until each has `COMPARE_FIRST` figures, then each
 *   call goes to the container when its p50 is below WASM's by `PREFER_MARGIN`, else to WASM, and one call
 *   in `EXPLORE_EVERY` (`EXPLORE_NEAR_EVERY` while the p50s are that close) goes to the other tier so the
 *   choice follows the workload. Calls that run alone and calls that share the invoker with another call of
 *   the function are figures of their own (`Load`), each compared and routed with its kind. A container that
 *   keeps losing under every load it was measured at is retired (back to `wasm`, with the figures in status);
 *   one that fails falls back to WASM and says why; one idle past `containerIdleMs` is removed.
 */
import type { FunctionSpec } from '../common/codec';
import { Tier } from '../common/codec';
import type { Logger } from '../common/logger';
import type { ExecutionRequest, ExecutionResult, Executor } from './executor';
import type { FunctionRuntime } from './function-runtime';
import { TierState } from './function-runtime';
import { LatencyWindow } from './latency-window';
import type { ContainerTier, TierRouter, WasmTier } from './tier-router';

/** One call in this many goes to the tier not chosen, to keep its figures current. */
const EXPLORE_EVERY = 16;
/**
 * …and one in this many while the two p50s are within `PREFER_MARGIN` of each other: there the tier not chosen
 * may be the faster one by up to that margin, and its window, refreshed one call in 16, kept its first figures
 * (taken right after the container started, its slowest) for a thousand calls. `matmul` 128 went 94 % to WASM
 * in a full run where its container answered 9 % faster (2.53 against 2.78 ms), the only miss of the hybrid
 * target in that run. Near a tie a call sent the other way costs little, by definition.
 */
const EXPLORE_NEAR_EVERY = 4;
/**
 * …and one in this many while the tier not chosen is `FAR_RATIO` times slower or more: there a call sent to it
 * costs that much more, and its figures, to matter, would have to change by half. `matmul` 128, whose WASM runs
 * took 1.8× its container's calls, answered 4–10 % slower in the hybrid than in the container alone with one
 * call in 16 explored.
 */
const EXPLORE_FAR_EVERY = 64;
const FAR_RATIO = 1.5;
/**
 * The container is chosen only when its p50 is at most this multiple of WASM's. Near a tie the two windows'
 * p50s cross back and forth by noise alone, and each crossing sent calls to the tier that is in truth the
 * slower one; and a container call costs far more CPU than a WASM run (a fresh process per call).
 */
const PREFER_MARGIN = 0.95;
/** Samples of a tier needed before its p50 is trusted. */
const MIN_SAMPLES = 5;
/**
 * Figures per tier taken side by side once a container is ready, before the p50s decide: a 1 MiB input's
 * calls spread over ±30 % on the same path here, so p50s of 5 picked the slower tier about as often as not.
 */
const COMPARE_FIRST = 12;
/**
 * A ready container's first calls are not figures of it: they alternate with WASM as in the comparison, but only
 * WASM's are kept. A fresh container answers its first 10–20 calls 20–40 % slower than later ones (`matmul` 128:
 * 2.5–3.9 ms, then 1.9–2.4), and judged on those it was retired at 1.25× WASM and kept out for
 * `retryAfterMs`, though it answered within 4 % of WASM once settled.
 */
const SETTLE_CALLS = 16;
/** Samples per tier kept for the comparison that routes calls. */
const COMPARE_WINDOW = 64;
/**
 * A call of a function alone on the invoker, or one that shared it with another call of the same function (at
 * its start or its end): their figures are kept and compared apart. Under a burst the tiers share the CPU
 * unevenly (a container runs on the CPUs but the first, its calls side by side in one cgroup), so both
 * tiers' figures grow, unequally: `primes` N=1e6, whose container answered alone in 3.05 ms against WASM's
 * 3.30, lost at 8 and 32 in flight, was retired, and the calls alone after the burst stayed in WASM for
 * `retryAfterMs` (1.10× the container in a full run; `sha256` 5 MiB 1.25×).
 */
type Load = 'alone' | 'busy';

/** Container samples after which a container that is clearly slower is retired. */
const RETIRE_AFTER = 8;
/** "Clearly slower": container p50 above this multiple of WASM p50. */
const RETIRE_RATIO = 1.25;

export interface HybridSettings {
  hotCalls: number;
  hotWindowMs: number;
  /** A hot function is warmed only when its WASM runs (exec p50) take at least this (config `hotMinWasmUs`). @default 0 */
  minWasmUs?: number;
  containerIdleMs: number;
  /** After a failure or a retirement, wait this long before warming a container again. */
  retryAfterMs: number;
}

interface Track {
  /** Times of the last `hotCalls` WASM calls. */
  recent: number[];
  /** The function's own run time (exec) of those calls, µs. */
  execUs: number[];
  calls: number;
  /** No warming before this time (after failure or retirement). */
  quietUntil: number;
  /**
   * Each tier's figures since the container became ready, which route the calls. The status windows
   * (`runtime.stats`) also hold the WASM runs from before: the first ones, on V8's baseline code and cold
   * caches, and runs from another stretch of the machine's speed, which made a container that was in truth
   * slower look faster (`sha256` of 1 MiB went 95 % to a container 35 % slower than its WASM).
   */
  compare: Record<Load, Record<Tier, LatencyWindow>> | null;
  /** Container calls answered since it became ready, up to `SETTLE_CALLS`. */
  settled: number;
}

const windows = (): Record<Tier, LatencyWindow> => ({ wasm: new LatencyWindow(COMPARE_WINDOW), container: new LatencyWindow(COMPARE_WINDOW) });
const fresh = (): Record<Load, Record<Tier, LatencyWindow>> => ({ alone: windows(), busy: windows() });

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export class HybridRouter implements TierRouter {
  private readonly tracks = new Map<string, Track>();
  private readonly runtimes = new Map<string, FunctionRuntime>();
  private readonly sweeper: NodeJS.Timeout;
  /** Calls routed while another call of their function was on the invoker: figures of `busy` load. */
  private readonly busyAtStart = new WeakSet<ExecutionRequest>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly wasm: WasmTier,
    private readonly containers: ContainerTier,
    private readonly settings: HybridSettings,
    private readonly log: Logger,
  ) {
    this.sweeper = setInterval(() => this.sweepIdle(), Math.min(1000, Math.max(50, settings.containerIdleMs / 4)));
    this.sweeper.unref();
  }

  get capacity(): number {
    return this.wasm.workers;
  }

  private track(fn: string): Track {
    let t = this.tracks.get(fn);
    if (t === undefined) {
      t = { recent: [], execUs: [], calls: 0, quietUntil: 0, compare: null, settled: 0 };
      this.tracks.set(fn, t);
    }
    return t;
  }

  choose(runtime: FunctionRuntime, request: ExecutionRequest): Executor {
    const spec = request.spec;
    this.runtimes.set(runtime.name, runtime);
    if (spec.policy === 'container') return this.containers;
    if (spec.policy === 'wasm' || spec.image === '' || runtime.state !== TierState.container) return this.wasm;
    if (!this.containers.isReady(spec)) return this.wasm;
    const t = this.track(runtime.name);
    t.calls += 1;
    t.compare ??= fresh();
    // the invocation runner counts this call in `inFlight`
    const load: Load = runtime.inFlight > 1 ? 'busy' : 'alone';
    if (load === 'busy') this.busyAtStart.add(request);
    if (t.settled < SETTLE_CALLS) return t.calls % 2 === 1 ? this.containers : this.wasm;
    const { wasm: w, container: c } = t.compare[load];
    // side by side until both have figures of the same stretch: the container first
    if (c.size < COMPARE_FIRST || w.size < COMPARE_FIRST) return c.size <= w.size ? this.containers : this.wasm;
    const cp = c.quantile(0.5);
    const wp = w.quantile(0.5);
    const containerFaster = cp <= wp * PREFER_MARGIN;
    const near = !containerFaster && cp * PREFER_MARGIN < wp;
    const [chosen, other] = containerFaster ? [cp, wp] : [wp, cp];
    const every = near ? EXPLORE_NEAR_EVERY : other >= chosen * FAR_RATIO ? EXPLORE_FAR_EVERY : EXPLORE_EVERY;
    const explore = t.calls % every === 0;
    return containerFaster !== explore ? this.containers : this.wasm;
  }

  observe(runtime: FunctionRuntime, request: ExecutionRequest, result: ExecutionResult | null, us: number): void {
    const spec = request.spec;
    if (result?.tier === Tier.wasm) runtime.ranInWasm();
    if (spec.policy === 'container') {
      if (result !== null && runtime.state !== TierState.container) this.enter(runtime, TierState.container, 'policy container: container ready');
      return;
    }
    if (spec.policy !== 'auto' || spec.image === '') return;
    const t = this.track(runtime.name);
    // …and no longer counts it here: another call still in flight shared the invoker with this one
    const startedBusy = this.busyAtStart.delete(request);
    const load: Load = startedBusy || runtime.inFlight > 0 ? 'busy' : 'alone';
    if (result === null) {
      // the container failed under a call: fall back to WASM and say why
      if (runtime.state === TierState.container) this.fallBack(runtime, 'container failed during a call');
      return;
    }
    if (runtime.state === TierState.container) {
      if (result.tier === Tier.container && t.settled < SETTLE_CALLS) {
        t.settled += 1;
        return;
      }
      t.compare?.[load][result.tier].record(us);
      this.maybeRetire(runtime, t);
      return;
    }
    if (runtime.state !== TierState.wasm || result.tier !== Tier.wasm) return;
    const now = Date.now();
    t.recent.push(now);
    t.execUs.push(result.execUs);
    if (t.recent.length > this.settings.hotCalls) t.recent.shift();
    if (t.execUs.length > this.settings.hotCalls) t.execUs.shift();
    const hot = t.recent.length >= this.settings.hotCalls && now - (t.recent[0] ?? now) <= this.settings.hotWindowMs;
    // a WASM run shorter than a container call's fixed cost cannot be beaten: no container to start and retire.
    // The run itself (exec), not the call: the hand-off around it is paid in both tiers, and grows with load
    const worth = median(t.execUs) >= (this.settings.minWasmUs ?? 0);
    if (hot && worth && now >= t.quietUntil) this.warm(runtime, spec);
  }

  private warm(runtime: FunctionRuntime, spec: FunctionSpec): void {
    this.enter(runtime, TierState.warming, `hot: ${this.settings.hotCalls} calls within ${this.settings.hotWindowMs} ms`);
    // in the background: warming never blocks a request
    this.containers.warm(spec).then(
      () => {
        if (runtime.state === TierState.warming) this.enter(runtime, TierState.container, 'container ready');
      },
      (err: unknown) => {
        runtime.lastError = err instanceof Error ? err.message : String(err);
        this.track(runtime.name).quietUntil = Date.now() + this.settings.retryAfterMs;
        if (runtime.state === TierState.warming) this.enter(runtime, TierState.wasm, 'container failed to start');
      },
    );
  }

  /** Retires the container when it is clearly slower under every load it has figures of. */
  private maybeRetire(runtime: FunctionRuntime, t: Track): void {
    const { compare } = t;
    if (compare === null) return;
    const judged = (['alone', 'busy'] as const)
      .filter((load) => compare[load].container.size >= RETIRE_AFTER && compare[load].wasm.size >= MIN_SAMPLES)
      .map((load) => ({ load, cp: compare[load].container.quantile(0.5), wp: compare[load].wasm.quantile(0.5) }));
    if (judged.length === 0 || judged.some(({ cp, wp }) => cp <= wp * RETIRE_RATIO)) return;
    const figures = judged.map(({ load, cp, wp }) => `p50 ${Math.round(cp)} µs vs ${Math.round(wp)} µs ${load === 'alone' ? 'alone' : 'under load'}`);
    runtime.lastError = `container slower than WASM (${figures.join('; ')}); retired`;
    t.quietUntil = Date.now() + this.settings.retryAfterMs;
    t.recent = [];
    this.enter(runtime, TierState.wasm, 'container slower than wasm');
    void this.containers.remove(runtime.name, 'slower than wasm');
  }

  private fallBack(runtime: FunctionRuntime, why: string): void {
    runtime.lastError = why;
    const t = this.track(runtime.name);
    t.quietUntil = Date.now() + this.settings.retryAfterMs;
    t.recent = [];
    this.enter(runtime, TierState.wasm, why);
  }

  private enter(runtime: FunctionRuntime, to: TierState, reason: string): void {
    // a new stay in `container` is judged on its own figures
    if (to !== runtime.state) Object.assign(this.track(runtime.name), { compare: null, settled: 0 });
    // SPEC §3 reaches `container` only through `warming`
    if (to === TierState.container && runtime.state !== TierState.warming && runtime.state !== TierState.container) runtime.transition(TierState.warming, reason);
    runtime.transition(to, reason);
  }

  private sweepIdle(): void {
    for (const fn of this.containers.idle(this.settings.containerIdleMs)) {
      const runtime = this.runtimes.get(fn);
      if (runtime !== undefined && runtime.state === TierState.container) {
        this.enter(runtime, TierState.wasm, `idle for ${this.settings.containerIdleMs} ms`);
        this.track(fn).recent = [];
      }
      void this.containers.remove(fn, 'idle');
    }
  }

  async reset(runtime: FunctionRuntime, reason: string): Promise<void> {
    this.tracks.delete(runtime.name);
    await this.containers.remove(runtime.name, reason);
    runtime.transition(TierState.cold, reason);
  }

  containerTier(): { available: boolean; reason: string } {
    return { available: true, reason: '' };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      await Promise.allSettled([this.containers.close(), this.wasm.close()]);
    })();
    return this.closing;
  }
}
