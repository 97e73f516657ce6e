import { Counter, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../common/process-metrics';
import type { InvokeResponse } from '../common/codec';

const STEP_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The controller's Prometheus metrics (`GET /metrics`). */
export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly invocations = new Counter({
    name: 'hayate_invocations_total',
    help: 'Invocations answered, by function, tier and status',
    labelNames: ['function', 'tier', 'status'] as const,
    registers: [this.registry],
  });
  private readonly coldStarts = new Counter({ name: 'hayate_cold_starts_total', help: 'Invocations that compiled a module or started a container first', labelNames: ['function', 'tier'] as const, registers: [this.registry] });
  private readonly failovers = new Counter({ name: 'hayate_failovers_total', help: 'Invocations re-sent to another invoker', labelNames: ['function'] as const, registers: [this.registry] });
  private readonly steps = new Histogram({
    name: 'hayate_invocation_step_seconds',
    help: 'Per-step latency of invocations as the invoker measured it (queue, startup, exec, teardown, total)',
    labelNames: ['step', 'tier'] as const,
    buckets: STEP_BUCKETS,
    registers: [this.registry],
  });
  private readonly e2e = new Histogram({ name: 'hayate_http_invoke_seconds', help: 'HTTP invoke latency at the controller', labelNames: ['function'] as const, buckets: STEP_BUCKETS, registers: [this.registry] });

  constructor() {
    collectProcessMetrics(this.registry, 'hayate_controller_');
  }

  /** Records one answered invocation. */
  observe(fn: string, r: InvokeResponse, attempts: number, seconds: number): void {
    this.invocations.inc({ function: fn, tier: r.tier, status: r.status });
    if (r.coldStart) this.coldStarts.inc({ function: fn, tier: r.tier });
    if (attempts > 1) this.failovers.inc({ function: fn }, attempts - 1);
    const t = r.timings;
    for (const [step, us] of [['queue', t.queueUs], ['startup', t.startupUs], ['exec', t.execUs], ['teardown', t.teardownUs], ['total', t.totalUs]] as const) {
      this.steps.observe({ step, tier: r.tier }, us / 1e6);
    }
    this.e2e.observe({ function: fn }, seconds);
  }
}
