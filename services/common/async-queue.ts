/**
 * The async work queue (SPEC §4, §7): a JetStream stream with work-queue retention and file storage on
 * `<prefix>.v1.async.>`, holding protobuf `InvokeRequest`s, and one durable pull consumer shared by every
 * invoker. A message leaves the stream only when an invoker acknowledges it, which it does after the
 * activation record is stored; an invoker that dies stops sending in-progress acks, so after `ackWaitMs`
 * the server hands the message to another invoker.
 */
import { AckPolicy, DeliverPolicy, nanos, RetentionPolicy, StorageType } from 'nats';
import type { Consumer, ConsumerConfig, JetStreamClient, JetStreamManager, NatsConnection, StreamConfig } from 'nats';
import type { InvokeRequest } from './codec';
import { decodeInvokeRequest, encodeInvokeRequest } from './codec';
import { HayateError } from './errors';
import { parseFunctionName } from './names';
import { retry } from './retry';
import { ASYNC_CONSUMER, Subjects } from './subjects';
import { withNatsRetry } from './nats-retry';

/** Options of the queue; controller and invokers should agree on them. */
export interface AsyncQueueOptions {
  /** Subject prefix. @default 'hayate' */
  prefix?: string;
  /** JetStream replicas of the stream and consumer. @default 1 */
  replicas?: number;
  /** JetStream domain holding the stream (the hub's, from an edge site's leaf). @default '' (the connected server's) */
  domain?: string;
  /** Silence after which a delivered message goes to another invoker. @default 3000 */
  ackWaitMs?: number;
  /**
   * Runs an activation gets. The consumer's max_deliver is one more: the extra delivery never runs the
   * function, it only records the activation as `failed` after every attempt ended with a dead invoker.
   * @default 5
   */
  maxAttempts?: number;
}

/** One try of an enqueue publish; then it is sent again. */
const PUBLISH_TRY_MS = 1500;

/** The stream's publish de-duplication window: a re-sent enqueue of the same activation id is dropped. */
const DUPLICATE_WINDOW_MS = 120_000;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AsyncQueue {
  readonly stream: string;
  readonly ackWaitMs: number;
  readonly maxAttempts: number;

  private constructor(
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    private readonly js: JetStreamClient,
    options: Required<Omit<AsyncQueueOptions, 'prefix' | 'domain'>>,
  ) {
    this.stream = subjects.asyncStream();
    this.ackWaitMs = options.ackWaitMs;
    this.maxAttempts = options.maxAttempts;
  }

  /**
   * Makes sure the stream and its consumer exist with these options (creating or updating them).
   * Several processes may call it at once.
   */
  static async open(nc: NatsConnection, options: AsyncQueueOptions = {}): Promise<AsyncQueue> {
    const subjects = new Subjects(options.prefix ?? 'hayate');
    const o = { replicas: options.replicas ?? 1, ackWaitMs: options.ackWaitMs ?? 3000, maxAttempts: options.maxAttempts ?? 5 };
    const domain = options.domain ? { domain: options.domain } : {};
    const manager = await withNatsRetry('reach JetStream', () => nc.jetstreamManager(domain));
    const queue = new AsyncQueue(manager, subjects, nc.jetstream(domain), o);
    await queue.ensureStream(o.replicas);
    await queue.ensureConsumer(o.replicas);
    return queue;
  }

  /** The consumer's max_deliver: the attempts plus one delivery that only records the failure. */
  get maxDeliver(): number {
    return this.maxAttempts + 1;
  }

  /** The server's advisory when a message reached the consumer's max_deliver. */
  get maxDeliveriesAdvisory(): string {
    return this.subjects.asyncMaxDeliveriesAdvisory();
  }

  /** The invocation a stored message holds. @throws HayateError HAYATE_ERR_BAD_REQUEST when it is not one */
  decode(message: { data: Uint8Array }): InvokeRequest {
    return decodeInvokeRequest(message.data);
  }

  /** A handle on the shared durable consumer, for pulling. */
  consumer(): Promise<Consumer> {
    return this.js.consumers.get(this.stream, ASYNC_CONSUMER);
  }

  /** The stream manager (for reading or deleting a message by sequence). */
  get manager(): JetStreamManager {
    return this.jsm;
  }

  /**
   * Stores an invocation in the stream, re-sending (same message id, so it is stored once) while JetStream
   * has no leader, until `untilUnixMs`.
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when JetStream did not confirm it in time
   */
  async enqueue(request: InvokeRequest, untilUnixMs = Date.now() + 10_000): Promise<void> {
    const subject = this.subjects.fn('async', parseFunctionName(request.function));
    const data = encodeInvokeRequest(request);
    await retry(
      // short tries: a publish sent while the stream elects a leader gets no answer at all, and waiting
      // out a long timeout for it only delays the 202; the message id makes a re-sent publish harmless
      () => this.js.publish(subject, data, { msgID: request.invocationId, expect: { streamName: this.stream }, timeout: Math.max(500, Math.min(PUBLISH_TRY_MS, untilUnixMs - Date.now())) }),
      {
        backoff: { initialMs: 100, factor: 2, maxMs: 1000 },
        patienceMs: untilUnixMs - Date.now(),
        retryOn: (err) => !/MAX_PAYLOAD|maximum payload/i.test(describe(err)),
        exhausted: (err) => new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot queue async invocation ${request.invocationId} of ${request.function}: JetStream did not confirm it (${describe(err)})`, { cause: err }),
      },
    );
  }

  private async ensureStream(replicas: number): Promise<void> {
    const config: Partial<StreamConfig> & { name: string } = {
      name: this.stream,
      subjects: [this.subjects.asyncStreamSubjects()],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: replicas,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      // no max_age: a message never vanishes unseen; one past its deadline is recorded as failed
    };
    await this.retryCreate(`stream ${this.stream}`, async () => {
      const info = await this.jsm.streams.info(this.stream).catch(() => null);
      if (info === null) await this.jsm.streams.add(config);
    });
  }

  private async ensureConsumer(replicas: number): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      durable_name: ASYNC_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(this.ackWaitMs),
      max_deliver: this.maxDeliver,
      max_ack_pending: 10_000,
      num_replicas: replicas,
    };
    await this.retryCreate(`consumer ${ASYNC_CONSUMER}`, async () => {
      const info = await this.jsm.consumers.info(this.stream, ASYNC_CONSUMER).catch(() => null);
      if (info === null) await this.jsm.consumers.add(this.stream, config);
      else if (info.config.ack_wait !== config.ack_wait || info.config.max_deliver !== config.max_deliver) {
        await this.jsm.consumers.update(this.stream, ASYNC_CONSUMER, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
      }
    });
  }

  /** Runs a create-if-missing step, again when a concurrent creator won the race or JetStream was electing. */
  private retryCreate(what: string, step: () => Promise<void>): Promise<void> {
    return retry(step, {
      attempts: 40,
      backoff: { initialMs: 50, factor: 2, maxMs: 500 },
      exhausted: (err) => new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot set up async ${what}: ${describe(err)}`, { cause: err }),
    });
  }
}
