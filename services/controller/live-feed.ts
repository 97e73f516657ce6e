/**
 * The operator page's live data (`GET /v1/live`). While at least one page listens, the controller asks every
 * invoker for its status (`hayate.v1.status`) once a round (1 s) and follows the activation records; each
 * round becomes one event, serialised once and written to every listener. So ten open pages cost the
 * invokers one status request a second, the same as one page, and no page open costs them nothing.
 *
 * Events (Server-Sent Events, data is JSON):
 *   hello       {history: ChartPoint[], fleet: Fleet, activations: [...]}   once, to a new listener
 *   tick        {fleet: Fleet, point: ChartPoint}                            every round
 *   activation  one activation record, as `GET /v1/activations/{id}` shows it (output and stderr trimmed)
 */
import type { NatsConnection } from 'nats';
import type { ActivationStore } from '../common/activations';
import type { Activation, FunctionState, InvokerStatus } from '../common/codec';
import type { Logger } from '../common/logger';
import type { Subjects } from '../common/subjects';
import { activationView } from './async-invoke';
import { gatherStatus, statusView } from './cluster-status';

/** Settings of the feed; every one has a default. */
export interface LiveFeedOptions {
  /** Time between status rounds. @default 1000 */
  intervalMs?: number;
  /** Chart points kept, one per round. @default 300 (5 minutes at 1 s) */
  historyPoints?: number;
  /** An invoker that has not answered for this long is shown stale. @default 3500 */
  staleAfterMs?: number;
  /** A stale invoker leaves the fleet after this long. @default 600000 */
  forgetAfterMs?: number;
  /** Recent activations kept for a new listener. @default 30 */
  activationsKept?: number;
}

const DEFAULTS: Required<LiveFeedOptions> = { intervalMs: 1000, historyPoints: 300, staleAfterMs: 3500, forgetAfterMs: 600_000, activationsKept: 30 };
/** Bytes of a function's output and stderr an activation event carries (the full record is one GET away). */
const TRIM_BYTES = 2048;

/** One tier over one round: p50 and p99 (µs, of the invokers' windows) and calls per second. */
export type TierPoint = [p50Us: number, p99Us: number, callsPerSecond: number];
/** One round: per function, the tiers that served calls in it (a tier with no call has no entry). */
export interface ChartPoint {
  t: number;
  fns: Record<string, { wasm?: TierPoint; container?: TierPoint }>;
}
/** The fleet as the page shows it: `GET /v1/status`'s invokers plus liveness and rate. */
export interface Fleet {
  t: number;
  invokers: Record<string, unknown>[];
}

/** Something listening: `write` gets whole SSE frames and answers false when the listener cannot keep up. */
export type LiveListener = (frame: string) => boolean;

interface Seen {
  status: InvokerStatus;
  lastSeenMs: number;
  callsPerSecond: number;
}

const TIERS = ['wasm', 'container'] as const;

/** One SSE frame. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The activation view a page gets: the record with its output and stderr cut to `TRIM_BYTES`. */
function trimmedActivation(a: Activation): Record<string, unknown> {
  const view = activationView({ ...a, output: a.output.subarray(0, TRIM_BYTES), stderr: a.stderr.subarray(0, TRIM_BYTES) });
  delete view['output_base64'];
  return { ...view, output_bytes: a.output.byteLength, stderr_bytes: a.stderr.byteLength };
}

/**
 * One per controller: the status rounds, the chart history, the fleet as last seen and the recent
 * activations, shared by every listener.
 */
export class LiveFeed {
  private readonly options: Required<LiveFeedOptions>;
  private readonly listeners = new Set<LiveListener>();
  private readonly seen = new Map<string, Seen>();
  private readonly history: ChartPoint[] = [];
  private readonly activations = new Map<string, Record<string, unknown>>();
  private fleet: Fleet = { t: 0, invokers: [] };
  private timer: NodeJS.Timeout | null = null;
  /** Rounds are wanted (some page listens); a round in progress schedules the next only while this holds. */
  private active = false;
  private running: Promise<void> | null = null;
  private stopFollowing: Promise<(() => void) | null> | null = null;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly store: ActivationStore,
    private readonly log: Logger,
    options: LiveFeedOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Listeners now. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Adds a listener: it gets `hello` at once, then every round's `tick` and every activation change.
   * The first listener starts the rounds; the last one leaving stops them.
   * @returns a function that removes the listener (idempotent)
   */
  listen(listener: LiveListener): () => void {
    if (this.closed) return () => {};
    listener(sseFrame('hello', { history: this.history, fleet: this.fleet, activations: [...this.activations.values()] }));
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      this.stop();
    };
  }

  /** Stops the rounds and drops every listener. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stop();
    await this.running;
  }

  private start(): void {
    if (this.active) return;
    this.active = true;
    this.log.debug('live feed started');
    // nothing was measured while no page listened: an empty point makes that a gap, not a line across it
    if (this.history.length > 0) this.history.push({ t: Date.now(), fns: {} });
    this.stopFollowing = this.store
      .follow(this.options.activationsKept * 3, (a) => this.onActivation(a))
      .catch((err: unknown) => {
        this.log.warn({ err }, 'cannot follow activation records');
        return null;
      });
    if (this.running === null) this.schedule(0);
  }

  private stop(): void {
    if (!this.active) return;
    this.active = false;
    this.log.debug('live feed stopped');
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const following = this.stopFollowing;
    this.stopFollowing = null;
    void following?.then((stopIt) => stopIt?.());
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const started = Date.now();
      this.running = this.round()
        .catch((err: unknown) => this.log.warn({ err }, 'live feed round failed'))
        .finally(() => {
          this.running = null;
          if (this.active && !this.closed) this.schedule(Math.max(0, this.options.intervalMs - (Date.now() - started)));
        });
    }, delayMs);
  }

  /** One round: ask every invoker, fold the answers into the fleet and a chart point, tell every listener. */
  private async round(): Promise<void> {
    // a stall shorter than the round, so one slow invoker cannot make rounds overlap
    const answers = await gatherStatus(this.nc, this.subjects, 250, Math.max(300, this.options.intervalMs - 100));
    const now = Date.now();
    const point = this.fold(answers, now);
    this.history.push(point);
    if (this.history.length > this.options.historyPoints) this.history.shift();
    this.fleet = this.fleetView(now);
    this.broadcast(sseFrame('tick', { fleet: this.fleet, point }));
  }

  /** Updates what each invoker last said and returns the calls of this round per function and tier. */
  private fold(answers: InvokerStatus[], now: number): ChartPoint {
    const sums = new Map<string, Record<'wasm' | 'container', { calls: number; rate: number; p50Weighted: number; p99: number }>>();
    for (const status of answers) {
      const prev = this.seen.get(status.invokerId);
      const seconds = prev === undefined ? 0 : Math.max(0.001, (now - prev.lastSeenMs) / 1000);
      const callsPerSecond = prev === undefined ? 0 : Math.max(0, status.invocations - prev.status.invocations) / seconds;
      if (prev !== undefined) {
        for (const fn of status.functions) {
          const before: FunctionState | undefined = prev.status.functions.find((f) => f.name === fn.name);
          for (const tier of TIERS) {
            const calls = fn[tier].invocations - (before?.[tier].invocations ?? 0);
            if (calls <= 0) continue; // none, or the invoker started the function afresh (its counters reset)
            const byTier = sums.get(fn.name) ?? { wasm: { calls: 0, rate: 0, p50Weighted: 0, p99: 0 }, container: { calls: 0, rate: 0, p50Weighted: 0, p99: 0 } };
            const s = byTier[tier];
            s.calls += calls;
            s.rate += calls / seconds;
            s.p50Weighted += fn[tier].p50Us * calls;
            s.p99 = Math.max(s.p99, fn[tier].p99Us);
            sums.set(fn.name, byTier);
          }
        }
      }
      this.seen.set(status.invokerId, { status, lastSeenMs: now, callsPerSecond });
    }
    const point: ChartPoint = { t: now, fns: {} };
    for (const [name, byTier] of sums) {
      const entry: ChartPoint['fns'][string] = {};
      for (const tier of TIERS) {
        const s = byTier[tier];
        if (s.calls > 0) entry[tier] = [Math.round(s.p50Weighted / s.calls), s.p99, Math.round(s.rate * 10) / 10];
      }
      point.fns[name] = entry;
    }
    return point;
  }

  private fleetView(now: number): Fleet {
    for (const [id, s] of this.seen) if (now - s.lastSeenMs > this.options.forgetAfterMs) this.seen.delete(id);
    const entries = [...this.seen.values()].sort((a, b) => a.status.invokerId.localeCompare(b.status.invokerId));
    const views = (statusView(entries.map((s) => s.status))['invokers'] ?? []) as Record<string, unknown>[];
    return {
      t: now,
      invokers: views.map((view, i) => {
        const s = entries[i]!;
        const stale = now - s.lastSeenMs > this.options.staleAfterMs;
        return { ...view, stale, last_seen_at: new Date(s.lastSeenMs).toISOString(), calls_per_s: stale ? 0 : Math.round(s.callsPerSecond * 10) / 10 };
      }),
    };
  }

  private onActivation(a: Activation): void {
    const view = trimmedActivation(a);
    this.activations.delete(a.activationId); // re-inserted last: the Map keeps the most recent at its end
    this.activations.set(a.activationId, view);
    while (this.activations.size > this.options.activationsKept) this.activations.delete(this.activations.keys().next().value!);
    this.broadcast(sseFrame('activation', view));
  }

  private broadcast(frame: string): void {
    for (const listener of [...this.listeners]) {
      // a page that cannot keep up is dropped (it reconnects and gets hello), not buffered without bound
      if (!listener(frame)) this.listeners.delete(listener);
    }
    if (this.listeners.size === 0) this.stop();
  }
}
