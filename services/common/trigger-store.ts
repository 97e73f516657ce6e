/**
 * Where triggers live: specs in the KV bucket `hayate_triggers`, and per trigger a JetStream stream that
 * captures its messages (the trigger's subject, or `<prefix>.v1.tick.<trigger>` for a schedule) with one
 * durable pull consumer `hayate-invokers` shared by every invoker. The stream has work-queue retention: a
 * message stays until an invoker acknowledges it, which it does after the activation record is stored — the
 * async path's exactly-once machinery (SPEC §7). The consumer's max_ack_pending is the trigger's concurrency.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType } from 'nats';
import type { Consumer, ConsumerInfo, JetStreamClient, JetStreamManager, KV, MsgHdrs, NatsConnection, StreamConfig, StreamInfo } from 'nats';
import type { Config } from './config';
import { HayateError } from './errors';
import { watchKv } from './kv-watch';
import type { FunctionName } from './names';
import { isFunctionName, parseFunctionName } from './names';
import { withNatsRetry } from './nats-retry';
import { Subjects, TRIGGER_CONSUMER, TRIGGERS_BUCKET } from './subjects';
import type { TriggerSpec } from './trigger-spec';
import { decodeTrigger, encodeTrigger, subjectsOverlap } from './trigger-spec';

/** Options shared by controllers and invokers (they should agree). */
export interface TriggerStoreOptions {
  /** @default 'hayate' */
  prefix?: string;
  /** JetStream replicas. @default 1 */
  replicas?: number;
  /** JetStream domain holding the bucket and streams. @default '' */
  domain?: string;
  /** Silence after which a delivered message goes to another invoker. @default 3000 */
  ackWaitMs?: number;
  /** Runs a message gets (the consumer's max_deliver is one more, to record the failure). @default 5 */
  maxAttempts?: number;
  /** Bytes a trigger's stream keeps; past it new messages are refused. @default 256 MiB */
  maxBytes?: number;
}

/** The store options of a process's configuration. */
export function triggerOptions(config: Readonly<Config>): TriggerStoreOptions {
  return { prefix: config.subjectPrefix, replicas: config.replicas, domain: config.jsDomain, ackWaitMs: config.asyncAckWaitMs, maxAttempts: config.asyncMaxAttempts, maxBytes: config.triggerMaxBytes };
}

/** An event of the triggers bucket. */
export type TriggerEvent = { kind: 'put'; trigger: TriggerSpec } | { kind: 'delete'; name: FunctionName };

/** A schedule tick's Nats-Msg-Id is kept this long: controllers whose clocks differ by less publish it once. */
const TICK_DUPLICATE_WINDOW_MS = 120_000;

export class TriggerStore {
  readonly subjects: Subjects;
  readonly ackWaitMs: number;
  readonly maxAttempts: number;

  private constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly options: Required<Omit<TriggerStoreOptions, 'prefix' | 'domain'>>,
    prefix: string,
  ) {
    this.subjects = new Subjects(prefix);
    this.ackWaitMs = options.ackWaitMs;
    this.maxAttempts = options.maxAttempts;
  }

  /** Opens (creating when missing) the bucket. */
  static async open(nc: NatsConnection, options: TriggerStoreOptions = {}): Promise<TriggerStore> {
    const domain = options.domain ? { domain: options.domain } : {};
    const js = nc.jetstream({ timeout: 2000, ...domain });
    const o = { replicas: options.replicas ?? 1, ackWaitMs: options.ackWaitMs ?? 3000, maxAttempts: options.maxAttempts ?? 5, maxBytes: options.maxBytes ?? 256 * 1024 * 1024 };
    const kv = await withNatsRetry(`open bucket ${TRIGGERS_BUCKET}`, () => js.views.kv(TRIGGERS_BUCKET, { history: 1, replicas: o.replicas }));
    return new TriggerStore(kv, await withNatsRetry('reach JetStream', () => nc.jetstreamManager(domain)), js, o, options.prefix ?? 'hayate');
  }

  /** The consumer's max_deliver: the attempts plus one delivery that only records the failure. */
  get maxDeliver(): number {
    return this.maxAttempts + 1;
  }

  /** The stream manager (reading or deleting a message by sequence). */
  get manager(): JetStreamManager {
    return this.jsm;
  }

  /** The trigger `name`, or null. */
  async get(name: FunctionName): Promise<TriggerSpec | null> {
    const entry = await withNatsRetry(`read trigger ${name}`, () => this.kv.get(name));
    return entry === null || entry.operation !== 'PUT' ? null : decodeTrigger(entry.value);
  }

  /** Every trigger, sorted by name. */
  async list(): Promise<TriggerSpec[]> {
    // collect the keys first: awaiting inside the keys iterator loses keys (nats.js 2.29)
    const keys: FunctionName[] = [];
    await withNatsRetry('list triggers', async () => {
      keys.length = 0;
      for await (const key of await this.kv.keys()) if (isFunctionName(key)) keys.push(key);
    });
    const all = (await Promise.all(keys.map((k) => this.get(k)))).filter((t): t is TriggerSpec => t !== null);
    return all.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Creates or updates the trigger's stream and consumer, then stores the spec.
   * @throws HayateError HAYATE_ERR_TRIGGER_CONFLICT when its subject overlaps another trigger's
   */
  async put(trigger: TriggerSpec): Promise<void> {
    if (trigger.source.kind === 'subject') {
      const subject = trigger.source.subject;
      const other = (await this.list()).find((t) => t.name !== trigger.name && t.source.kind === 'subject' && subjectsOverlap(t.source.subject, subject));
      if (other !== undefined && other.source.kind === 'subject') {
        throw new HayateError('HAYATE_ERR_TRIGGER_CONFLICT', `Cannot make trigger ${trigger.name} on ${subject} as trigger ${other.name} already captures ${other.source.subject} (a message is captured by one stream only)`);
      }
    }
    await this.ensureStream(trigger);
    await withNatsRetry(`store trigger ${trigger.name}`, () => this.kv.put(trigger.name, encodeTrigger(trigger)));
  }

  /** Removes the trigger, its stream and the messages still waiting there; false when there was none. */
  async remove(name: FunctionName): Promise<boolean> {
    const existing = await this.get(name);
    if (existing === null) return false;
    await withNatsRetry(`remove trigger ${name}`, () => this.kv.delete(name));
    await this.jsm.streams.delete(this.subjects.triggerStream(name)).catch(() => false);
    return true;
  }

  /** The pull consumer of a trigger's stream. */
  consumer(name: FunctionName): Promise<Consumer> {
    return this.js.consumers.get(this.subjects.triggerStream(name), TRIGGER_CONSUMER);
  }

  /** The stream's and consumer's state (for metrics), or nulls when they are gone. */
  async state(name: FunctionName): Promise<{ stream: StreamInfo | null; consumer: ConsumerInfo | null }> {
    const stream = this.subjects.triggerStream(name);
    const [s, c] = await Promise.all([this.jsm.streams.info(stream).catch(() => null), this.jsm.consumers.info(stream, TRIGGER_CONSUMER).catch(() => null)]);
    return { stream: s, consumer: c };
  }

  /**
   * Publishes one tick of a schedule trigger, de-duplicated by `tickUnixMs`: every controller may publish
   * the same tick and the stream keeps one.
   * @returns whether this publish stored it (false: another controller's came first)
   */
  async publishTick(trigger: TriggerSpec, tickUnixMs: number, headers: MsgHdrs): Promise<boolean> {
    const ack = await withNatsRetry(`publish tick of ${trigger.name}`, () =>
      this.js.publish(this.subjects.tick(trigger.name), new Uint8Array(0), { msgID: `${trigger.uid}-${tickUnixMs}`, headers, expect: { streamName: this.subjects.triggerStream(trigger.name) } }),
    );
    return !ack.duplicate;
  }

  /**
   * Streams every current trigger and then every change. Stops when `signal` aborts.
   * @param onEvent called for each put or delete, in order
   */
  async watch(onEvent: (event: TriggerEvent) => void, signal: AbortSignal): Promise<void> {
    await withNatsRetry('watch triggers', () =>
      watchKv(this.kv, signal, (entry) => {
        if (!isFunctionName(entry.key)) return;
        if (entry.operation === 'PUT') onEvent({ kind: 'put', trigger: decodeTrigger(entry.value) });
        else onEvent({ kind: 'delete', name: parseFunctionName(entry.key) });
      }),
    );
  }

  private async ensureStream(trigger: TriggerSpec): Promise<void> {
    const name = this.subjects.triggerStream(trigger.name);
    const subject = trigger.source.kind === 'subject' ? trigger.source.subject : this.subjects.tick(trigger.name);
    const config: Partial<StreamConfig> & { name: string } = {
      name,
      subjects: [subject],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: this.options.replicas,
      max_bytes: this.options.maxBytes,
      // a full stream refuses new messages (a JetStream publisher is told) rather than dropping waiting ones
      discard: DiscardPolicy.New,
      duplicate_window: nanos(TICK_DUPLICATE_WINDOW_MS),
    };
    try {
      const info = await this.jsm.streams.info(name).catch(() => null);
      if (info === null) await this.jsm.streams.add(config);
      else if (info.config.subjects?.[0] !== subject) await this.jsm.streams.update(name, { ...info.config, subjects: [subject] });
      const consumer = {
        durable_name: TRIGGER_CONSUMER,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.ackWaitMs),
        max_deliver: this.maxDeliver,
        max_ack_pending: trigger.concurrency,
        num_replicas: this.options.replicas,
      };
      const existing = await this.jsm.consumers.info(name, TRIGGER_CONSUMER).catch(() => null);
      if (existing === null) await this.jsm.consumers.add(name, consumer);
      else await this.jsm.consumers.update(name, TRIGGER_CONSUMER, { ack_wait: consumer.ack_wait, max_deliver: consumer.max_deliver, max_ack_pending: consumer.max_ack_pending });
    } catch (err: unknown) {
      const text = err instanceof Error ? err.message : String(err);
      if (/overlap/i.test(text)) throw new HayateError('HAYATE_ERR_TRIGGER_CONFLICT', `Cannot make trigger ${trigger.name} on ${subject} as another JetStream stream captures an overlapping subject (${text})`, { cause: err });
      throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot set up the stream of trigger ${trigger.name}: ${text}`, { cause: err });
    }
  }
}
