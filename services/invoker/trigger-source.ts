/**
 * One trigger's stream as a `WorkSource` of the async consumer: a captured message (or a schedule tick)
 * becomes an invocation whose id comes from the trigger's uid and the message's stream sequence, so every
 * redelivery of it is the same activation and runs at most once. Input = the message's data; env =
 * `HAYATE_TRIGGER`, `HAYATE_SUBJECT` and `HAYATE_HEADER_<NAME>` per header; args = the trigger's. With
 * `max_age`, the deadline is the capture time plus it.
 *
 * When an activation is settled: its output is published on the trigger's result subject (successful runs
 * with output), answered to a `Hayate-Reply-To` header, and counted. A redelivery of a settled activation
 * (its ack was lost with the invoker) publishes again, with the same `Nats-Msg-Id` (the activation id), so a
 * stream that captures the result subject keeps one copy.
 */
import { headers as natsHeaders } from 'nats';
import type { Consumer, JetStreamManager, NatsConnection } from 'nats';
import type { Activation, InvokeRequest } from '../common/codec';
import { ActivationState } from '../common/codec';
import { Header } from '../common/headers';
import type { Logger } from '../common/logger';
import type { TriggerSpec } from '../common/trigger-spec';
import { triggerActivationId } from '../common/trigger-spec';
import type { TriggerStats } from '../common/trigger-stats';
import type { TriggerStore } from '../common/trigger-store';
import type { StoredMessage, WorkSource } from './async-consumer';

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Env key of the reply header (headers reach the function as HAYATE_HEADER_<NAME>). */
export const REPLY_ENV = envKeyOf(Header.replyTo);

/** `Hayate-Reply-To` → `HAYATE_HEADER_HAYATE_REPLY_TO` */
function envKeyOf(header: string): string {
  return `HAYATE_HEADER_${header.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/** Statuses of runs that reached the function (the others never ran it). */
const RAN = new Set(['OK', 'FUNCTION_ERROR', 'TIMEOUT', 'LIMIT_EXCEEDED']);

export class TriggerSource implements WorkSource {
  readonly stream: string;
  readonly maxDeliveriesAdvisory: string;

  constructor(
    readonly trigger: TriggerSpec,
    private readonly store: TriggerStore,
    private readonly nc: NatsConnection,
    private readonly stats: TriggerStats,
    private readonly log: Logger,
  ) {
    this.stream = store.subjects.triggerStream(trigger.name);
    this.maxDeliveriesAdvisory = store.subjects.triggerMaxDeliveriesAdvisory(trigger.name);
  }

  get ackWaitMs(): number {
    return this.store.ackWaitMs;
  }

  get maxAttempts(): number {
    return this.store.maxAttempts;
  }

  get manager(): JetStreamManager {
    return this.store.manager;
  }

  consumer(): Promise<Consumer> {
    return this.store.consumer(this.trigger.name);
  }

  decode(m: StoredMessage): InvokeRequest {
    const t = this.trigger;
    const env: Record<string, string> = { HAYATE_TRIGGER: t.name, HAYATE_SUBJECT: m.subject };
    for (const [name, values] of m.headers ?? []) {
      const key = envKeyOf(name);
      const value = values[0] ?? '';
      if (ENV_KEY.test(key) && !value.includes('\0')) env[key] = value;
    }
    return {
      invocationId: triggerActivationId(t, m.seq),
      function: t.function,
      input: m.data,
      args: [...t.args],
      env,
      timeoutMs: 0,
      deadlineUnixMs: t.maxAgeMs > 0 ? m.timestampUnixMs + t.maxAgeMs : 0,
      attempt: 0,
    };
  }

  settled(request: InvokeRequest, a: Activation, first: boolean): void {
    const t = this.trigger;
    if (first) {
      if (a.errorCode === 'HAYATE_ERR_DEADLINE_EXCEEDED' && a.startedUnixMs === 0) this.stats.count(t.name, t.uid, { kind: 'dropped', reason: t.maxAgeMs > 0 ? 'max_age' : 'deadline' });
      else if (RAN.has(a.status) && a.invokerId !== '') this.stats.count(t.name, t.uid, { kind: 'invoked', failed: a.state !== ActivationState.succeeded });
      else this.stats.count(t.name, t.uid, { kind: 'failed' });
    }
    const subject = request.env['HAYATE_SUBJECT'] ?? '';
    const ok = a.state === ActivationState.succeeded;
    try {
      if (ok && t.resultSubject !== '' && a.output.byteLength > 0) this.nc.publish(t.resultSubject, a.output, { headers: this.headersOf(a, subject) });
      const replyTo = request.env[REPLY_ENV];
      if (replyTo !== undefined && replyTo !== '') this.nc.publish(replyTo, ok ? a.output : a.stderr, { headers: this.headersOf(a, subject) });
    } catch (err: unknown) {
      this.log.warn({ err, invocationId: a.activationId }, 'trigger output not published');
    }
  }

  private headersOf(a: Activation, subject: string) {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', a.activationId);
    h.set(Header.invocationId, a.activationId);
    h.set(Header.trigger, this.trigger.name);
    if (subject !== '') h.set(Header.subject, subject);
    h.set(Header.status, a.status);
    h.set(Header.exitCode, String(a.exitCode));
    if (a.errorCode !== '') h.set(Header.errorCode, a.errorCode);
    return h;
  }
}
