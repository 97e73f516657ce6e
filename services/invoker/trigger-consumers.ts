/**
 * The invoker's side of triggers: it watches `hayate_triggers` and `hayate_functions`, and for every trigger
 * whose function is deployed it pulls from the trigger's durable consumer with an `AsyncConsumer` (the
 * async path: record, run, store, then ack). A trigger whose function is removed is paused here: nobody
 * pulls, and its messages wait in its stream until the function is deployed again.
 *
 * Every invoker pulls from every active trigger, so a message goes to whichever invoker is free; the
 * trigger's concurrency is enforced by JetStream across all of them (the consumer's max_ack_pending).
 */
import type { NatsConnection } from 'nats';
import type { ActivationStore } from '../common/activations';
import type { InvokeResponse } from '../common/codec';
import type { Logger } from '../common/logger';
import type { FunctionStore } from '../common/store';
import type { TriggerSpec } from '../common/trigger-spec';
import type { TriggerStats } from '../common/trigger-stats';
import type { TriggerStore } from '../common/trigger-store';
import type { AsyncConsumerDeps } from './async-consumer';
import { AsyncConsumer } from './async-consumer';
import type { ExecutionLog } from './execution-log';
import { TriggerSource } from './trigger-source';

export interface TriggerConsumersDeps {
  nc: NatsConnection;
  triggers: TriggerStore;
  functions: FunctionStore;
  stats: TriggerStats;
  activations: ActivationStore;
  executions: ExecutionLog;
  invokerId: string;
  /** Pull loops per trigger on this invoker, at most; a trigger's concurrency bounds it too. */
  slots: number;
  log: Logger;
  run: AsyncConsumerDeps['run'];
  track: AsyncConsumerDeps['track'];
}

/** How soon a consumer that could not start (its stream not there yet) is tried again. */
const RETRY_START_MS = 1000;

interface Running {
  trigger: TriggerSpec;
  consumer: AsyncConsumer;
  started: Promise<void>;
}

export class TriggerConsumers {
  private readonly triggers = new Map<string, TriggerSpec>();
  private readonly deployed = new Set<string>();
  private readonly running = new Map<string, Running>();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private stopping: Promise<void> | null = null;

  constructor(private readonly deps: TriggerConsumersDeps) {
    this.log = deps.log.child({ component: 'trigger-consumers' });
  }

  /** Starts both watches; consumers start as their triggers arrive. */
  async start(): Promise<void> {
    await this.deps.functions.watch((event) => {
      if (event.kind === 'put') this.deployed.add(event.spec.name);
      else this.deployed.delete(event.name);
      for (const t of this.triggers.values()) if (t.function === (event.kind === 'put' ? event.spec.name : event.name)) this.reconcile(t.name);
    }, this.abort.signal);
    await this.deps.triggers.watch((event) => {
      if (event.kind === 'put') this.triggers.set(event.trigger.name, event.trigger);
      else this.triggers.delete(event.name);
      this.reconcile(event.kind === 'put' ? event.trigger.name : event.name);
    }, this.abort.signal);
  }

  /** Stops every consumer (each hands back or finishes its message) and writes the counters. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.abort.abort();
      await Promise.allSettled([...this.running.values()].map((r) => r.consumer.stop()));
      this.running.clear();
      await this.deps.stats.close();
    })();
    return this.stopping;
  }

  /** Starts, restarts or stops the consumer of `name` to match its spec and its function's presence. */
  private reconcile(name: string): void {
    if (this.stopping !== null) return;
    const want = this.triggers.get(name);
    const active = want !== undefined && this.deployed.has(want.function);
    const current = this.running.get(name);
    if (current !== undefined && active && same(current.trigger, want)) return;
    if (current !== undefined) {
      this.running.delete(name);
      void current.started.finally(() => current.consumer.stop());
      this.log.info({ trigger: name }, active ? 'trigger changed: consumer restarted' : 'trigger paused or removed: consumer stopped');
    }
    if (active) this.launch(want);
  }

  private launch(trigger: TriggerSpec): void {
    const d = this.deps;
    const log = d.log.child({ trigger: trigger.name });
    const source = new TriggerSource(trigger, d.triggers, d.nc, d.stats, log);
    const consumer = new AsyncConsumer({ nc: d.nc, queue: source, activations: d.activations, executions: d.executions, invokerId: d.invokerId, slots: Math.max(1, Math.min(d.slots, trigger.concurrency)), log, run: (r) => d.run(r).then(waitForRedeploy), track: d.track });
    const started = consumer.start().catch((err: unknown) => {
      log.warn({ err }, 'trigger consumer did not start: trying again');
      setTimeout(() => {
        if (this.running.get(trigger.name)?.consumer !== consumer) return;
        this.running.delete(trigger.name);
        this.reconcile(trigger.name);
      }, RETRY_START_MS).unref();
    });
    this.running.set(trigger.name, { trigger, consumer, started });
  }
}

/**
 * A trigger's message that reaches an invoker just after its function was removed (before the watch paused
 * the trigger here) is handed back, not failed: the trigger is paused and its messages wait for a redeploy.
 */
function waitForRedeploy(r: InvokeResponse): InvokeResponse {
  if (r.errorCode !== 'HAYATE_ERR_NOT_FOUND') return r;
  return { ...r, errorCode: 'HAYATE_ERR_UNAVAILABLE', errorMessage: `${r.errorMessage}: the trigger is paused until it is deployed again` };
}

/** Whether two versions of a trigger can share one consumer. */
function same(a: TriggerSpec, b: TriggerSpec): boolean {
  return a.uid === b.uid && a.function === b.function && a.concurrency === b.concurrency && a.maxAgeMs === b.maxAgeMs && a.resultSubject === b.resultSubject && JSON.stringify(a.args) === JSON.stringify(b.args) && JSON.stringify(a.source) === JSON.stringify(b.source);
}
