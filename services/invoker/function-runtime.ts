/**
 * Per-function tier state on one invoker (SPEC §3):
 *   cold → (first request: fetch, compile) → wasm → (hot, image, policy auto) → warming → container
 *   container → (idle past TTL) → wasm;  any → (evicted / redeployed) → cold
 * Each transition is logged; illegal ones are refused with the current state in the message. The tier
 * router is the one writer of `state` (see tier-router.ts); the invocation path only records figures.
 */
import type { FunctionState, TierStats, TierTransition } from '../common/codec';
import { Tier } from '../common/codec';
import { HayateError } from '../common/errors';
import type { Logger } from '../common/logger';
import { LatencyWindow } from './latency-window';

export const TierState = { cold: 'cold', wasm: 'wasm', warming: 'warming', container: 'container' } as const;
export type TierState = (typeof TierState)[keyof typeof TierState];

const LEGAL: Record<TierState, readonly TierState[]> = {
  cold: ['wasm', 'warming'],
  wasm: ['warming', 'cold'],
  warming: ['container', 'wasm', 'cold'],
  container: ['wasm', 'cold'],
};

/** Tier transitions kept per function for status (the operator page shows them with their reasons). */
const TRANSITIONS_KEPT = 5;

export class FunctionRuntime {
  state: TierState = TierState.cold;
  readonly stats: Record<Tier, LatencyWindow> = { wasm: new LatencyWindow(), container: new LatencyWindow() };
  inFlight = 0;
  lastUsedUnixMs = 0;
  /** Why the container tier was last left or not reached. */
  lastError = '';
  digest = '';
  /** The last `TRANSITIONS_KEPT` state changes, oldest first. */
  private readonly transitions: TierTransition[] = [];

  /**
   * @param onTransition told of every state change after it is logged (metrics)
   */
  constructor(
    readonly name: string,
    private readonly log: Logger,
    private readonly onTransition: (from: TierState, to: TierState) => void = () => {},
  ) {}

  /**
   * Moves to `to`, logging why.
   * @throws HayateError HAYATE_ERR_INTERNAL on a transition SPEC §3 does not allow
   */
  transition(to: TierState, reason: string): void {
    if (this.state === to) return;
    if (!LEGAL[this.state].includes(to)) {
      throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot move function ${this.name} from ${this.state} to ${to}`);
    }
    this.log.info({ fn: this.name, from: this.state, to, reason }, 'tier transition');
    const from = this.state;
    this.state = to;
    this.transitions.push({ from, to, reason, atUnixMs: Date.now() });
    if (this.transitions.length > TRANSITIONS_KEPT) this.transitions.shift();
    this.onTransition(from, to);
  }

  /** A call ran in WASM: a `cold` function has its module compiled now, so it is `wasm`. */
  ranInWasm(): void {
    if (this.state === TierState.cold) this.transition(TierState.wasm, 'first invocation compiled the module');
  }

  /** Records one finished invocation's end-to-end time inside the invoker. */
  record(tier: Tier, us: number, failed: boolean): void {
    this.stats[tier].record(us, failed);
    this.lastUsedUnixMs = Date.now();
  }

  /** The status form (`hayate.v1.FunctionState`). */
  snapshot(): FunctionState {
    const stats = (w: LatencyWindow): TierStats => ({ invocations: w.count, errors: w.errors, p50Us: Math.round(w.quantile(0.5)), p99Us: Math.round(w.quantile(0.99)) });
    return {
      name: this.name,
      state: this.state,
      digest: this.digest,
      wasm: stats(this.stats[Tier.wasm]),
      container: stats(this.stats[Tier.container]),
      inFlight: this.inFlight,
      lastError: this.lastError,
      lastUsedUnixMs: this.lastUsedUnixMs,
      transitions: [...this.transitions],
    };
  }
}
