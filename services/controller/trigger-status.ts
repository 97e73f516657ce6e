/**
 * A trigger's state and counters as the controller shows them (`GET /v1/triggers/{name}`, `/metrics`):
 *   - state `active`, or `paused` with the reason when its function is not deployed;
 *   - received (messages its stream captured), invoked, failed, dropped (by reason; from the invokers'
 *     counters), lag (messages waiting for an invoker) and in_flight (delivered, not yet acknowledged).
 */
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger';
import type { FunctionStore } from '../common/store';
import type { TriggerSpec } from '../common/trigger-spec';
import { cronOf, triggerView } from '../common/trigger-spec';
import type { TriggerCounts, TriggerStats } from '../common/trigger-stats';
import type { TriggerStore } from '../common/trigger-store';

/** A trigger's counters. */
export interface TriggerMetrics {
  received: number;
  invoked: number;
  failed: number;
  dropped: number;
  dropped_by_reason: Record<string, number>;
  lag: number;
  in_flight: number;
}

export interface TriggerStatusDeps {
  triggers: TriggerStore;
  functions: FunctionStore;
  stats: TriggerStats;
}

/** The next tick of a schedule trigger after `nowMs` (Unix ms), or null for a subject trigger or a cron that ends. */
export function nextTick(t: TriggerSpec, nowMs: number): number | null {
  switch (t.source.kind) {
    case 'subject':
      return null;
    case 'every':
      // aligned on multiples of the period since the epoch: every controller computes the same ticks
      return (Math.floor(nowMs / t.source.everyMs) + 1) * t.source.everyMs;
    case 'cron':
      return cronOf(t.source.cron).nextRun(new Date(nowMs))?.getTime() ?? null;
    default: {
      const never: never = t.source;
      throw new Error(`unknown trigger source ${JSON.stringify(never)}`);
    }
  }
}

/** Reads the counters of one trigger. */
export async function triggerMetrics(deps: TriggerStatusDeps, t: TriggerSpec): Promise<TriggerMetrics> {
  const [{ stream, consumer }, counts] = await Promise.all([deps.triggers.state(t.name), deps.stats.read(t.name, t.uid).catch((): TriggerCounts => ({ invoked: 0, failed: 0, dropped: {} }))]);
  return {
    received: stream?.state.last_seq ?? 0,
    invoked: counts.invoked,
    failed: counts.failed,
    dropped: Object.values(counts.dropped).reduce((a, b) => a + b, 0),
    dropped_by_reason: counts.dropped,
    // a work-queue stream holds each message until it is acknowledged: what no invoker holds is waiting
    // (num_pending alone misses messages handed back for redelivery)
    lag: Math.max(0, (stream?.state.messages ?? 0) - (consumer?.num_ack_pending ?? 0)),
    in_flight: consumer?.num_ack_pending ?? 0,
  };
}

/** The JSON form of a trigger with its state and counters. */
export async function triggerStatusView(deps: TriggerStatusDeps, t: TriggerSpec): Promise<Record<string, unknown>> {
  const [spec, metrics] = await Promise.all([deps.functions.getSpec(t.function), triggerMetrics(deps, t)]);
  const next = spec === null ? null : nextTick(t, Date.now());
  return {
    ...triggerView(t),
    state: spec === null ? 'paused' : 'active',
    ...(spec === null ? { reason: `function ${t.function} is not deployed (removed): ${t.source.kind === 'subject' ? 'its messages wait in the trigger\'s stream' : 'no ticks fire'} until it is deployed again` } : {}),
    ...(next !== null ? { next_tick: new Date(next).toISOString() } : {}),
    metrics,
  };
}

/** Registers per-trigger gauges on the controller's registry, read from JetStream at each scrape. */
export function registerTriggerGauges(registry: Registry, deps: TriggerStatusDeps, log: Logger): void {
  // one read of every trigger per scrape, shared by the gauges (prom-client collects them concurrently)
  let last: { atMs: number; done: Promise<void> } | null = null;
  const collect = (): Promise<void> => {
    if (last === null || Date.now() - last.atMs > 500) last = { atMs: Date.now(), done: refresh() };
    return last.done;
  };
  const make = (name: string, help: string, extra: readonly string[] = []) => new Gauge({ name, help, labelNames: ['trigger', 'function', ...extra], registers: [registry], collect });
  const received = make('hayate_trigger_received', "Messages (or ticks) a trigger's stream captured since the trigger was made");
  const invoked = make('hayate_trigger_invoked', 'Runs of a trigger that finished with an answer (any status)');
  const failed = make('hayate_trigger_failed', 'Activations of a trigger that ended failed');
  const dropped = make('hayate_trigger_dropped', 'Messages of a trigger dropped without running, by reason', ['reason']);
  const lag = make('hayate_trigger_lag', 'Messages of a trigger waiting for an invoker');
  const paused = make('hayate_trigger_paused', '1 when a trigger is paused (its function is not deployed)');
  async function refresh(): Promise<void> {
    try {
      const rows = await Promise.all((await deps.triggers.list()).map(async (t) => ({ t, m: await triggerMetrics(deps, t), spec: await deps.functions.getSpec(t.function) })));
      for (const g of [received, invoked, failed, dropped, lag, paused]) g.reset();
      for (const { t, m, spec } of rows) {
        const labels = { trigger: t.name, function: t.function };
        received.set(labels, m.received);
        invoked.set(labels, m.invoked);
        failed.set(labels, m.failed);
        for (const [reason, n] of Object.entries(m.dropped_by_reason)) dropped.set({ ...labels, reason }, n);
        lag.set(labels, m.lag);
        paused.set(labels, spec === null ? 1 : 0);
      }
    } catch (err: unknown) {
      log.warn({ err }, 'trigger metrics not read');
    }
  }
}
