/**
 * An invoker's Prometheus metrics (served by `metrics-server.ts` on `--metrics-port`). Names carry the
 * `hayate_invoker_` prefix so that sums over a fleet never add the controller's own counts of the same
 * invocations (`hayate_invocations_total`, see services/controller/metrics.ts).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/process-metrics';
import type { InvokeResponse } from '../common/codec';

/** Seconds: 100 µs (a warm WASM call) up to 10 s (the default function timeout). */
const STEP_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the invoker reports at scrape time. */
export interface InvokerGauges {
  /** Invocations queued or running here (bounded by max_pending). */
  pending: number;
  workers: number;
  moduleCacheBytes: number;
  /** Runs on the event-loop thread (inline-lane.ts), and those abandoned there and run again on a worker. */
  inlineRuns: number;
  inlineOverruns: number;
}

/** The invoker's side of metrics: called once per answer and once per tier transition. */
export interface InvokerObserver {
  /**
   * Records one answer.
   * @param fn the function label: a deployed function's name, or `_other` for requests that named none
   *   (keeps the label set bounded by what is deployed)
   * @param ran whether the function ran (its step timings are then recorded)
   */
  answered(fn: string, response: InvokeResponse, ran: boolean): void;
  /** Records a per-function tier transition (SPEC §3). */
  transition(fn: string, from: string, to: string): void;
}

/** Prometheus metrics of one invoker. */
export class InvokerMetrics implements InvokerObserver {
  readonly registry = new Registry();
  private gauges: () => InvokerGauges = () => ({ pending: 0, workers: 0, moduleCacheBytes: 0, inlineRuns: 0, inlineOverruns: 0 });
  private readonly invocations = new Counter({
    name: 'hayate_invoker_invocations_total',
    help: 'Answers sent by this invoker, by function, tier and status',
    labelNames: ['function', 'tier', 'status'] as const,
    registers: [this.registry],
  });
  private readonly coldStarts = new Counter({ name: 'hayate_invoker_cold_starts_total', help: 'Invocations that fetched and compiled a module or started a container first', labelNames: ['function', 'tier'] as const, registers: [this.registry] });
  private readonly transitions = new Counter({ name: 'hayate_invoker_tier_transitions_total', help: 'Per-function tier state changes (cold, wasm, warming, container)', labelNames: ['function', 'from', 'to'] as const, registers: [this.registry] });
  private readonly steps = new Histogram({
    name: 'hayate_invoker_step_seconds',
    help: 'Per-step latency of invocations that ran (queue, startup, exec, teardown, total)',
    labelNames: ['step', 'tier'] as const,
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });

  /**
   * @param labels constant labels of every series (`invoker`, `site`)
   */
  constructor(labels: { invoker: string; site: string }) {
    this.registry.setDefaultLabels(labels);
    collectProcessMetrics(this.registry, 'hayate_invoker_');
    const self = this;
    new Gauge({ name: 'hayate_invoker_pending', help: 'Invocations queued or running on this invoker (queue depth)', registers: [this.registry], collect() { this.set(self.gauges().pending); } });
    new Gauge({ name: 'hayate_invoker_workers', help: 'WASM worker threads', registers: [this.registry], collect() { this.set(self.gauges().workers); } });
    new Gauge({ name: 'hayate_invoker_module_cache_bytes', help: 'Bytes of modules held compiled', registers: [this.registry], collect() { this.set(self.gauges().moduleCacheBytes); } });
    // counted by the lane; read at scrape time
    const counted = (name: string, help: string, read: (g: InvokerGauges) => number): void => {
      new Counter({ name, help, registers: [this.registry], collect() { this.reset(); this.inc(read(self.gauges())); } });
    };
    counted('hayate_invoker_inline_runs_total', 'WASM runs on the event-loop thread (fuel-metered; HAYATE_INLINE)', (g) => g.inlineRuns);
    counted('hayate_invoker_inline_overruns_total', 'WASM runs abandoned on the event-loop thread at a bound and run again on a worker', (g) => g.inlineOverruns);
  }

  /** Sets where the gauges are read from at scrape time (the running invoker). */
  sample(read: () => InvokerGauges): void {
    this.gauges = read;
  }

  answered(fn: string, r: InvokeResponse, ran: boolean): void {
    this.invocations.inc({ function: fn, tier: r.tier, status: r.status });
    if (!ran) return;
    if (r.coldStart) this.coldStarts.inc({ function: fn, tier: r.tier });
    const t = r.timings;
    for (const [step, us] of [['queue', t.queueUs], ['startup', t.startupUs], ['exec', t.execUs], ['teardown', t.teardownUs], ['total', t.totalUs]] as const) {
      this.steps.observe({ step, tier: r.tier }, us / 1e6);
    }
  }

  transition(fn: string, from: string, to: string): void {
    this.transitions.inc({ function: fn, from, to });
  }
}
