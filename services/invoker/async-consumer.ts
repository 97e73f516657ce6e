/**
 * The invoker's side of async invocations (SPEC §7): `slots` loops pull from the shared durable consumer of
 * the async stream, one message at a time each, so nothing waits unacknowledged in a local buffer.
 *
 * For each delivery: a finished activation is only acknowledged (its ack was lost, or a peer finished it);
 * past the deadline it is recorded `failed` and dropped; otherwise it is recorded `running`, run (with an
 * in-progress ack every ackWaitMs/4, so long functions keep their message), and its result is stored
 * before the message is acknowledged. A "try elsewhere" answer is negatively acknowledged with a backoff.
 * After `maxAttempts` runs the activation is recorded `failed` with the reason; the consumer's last
 * delivery exists only for that, and the server's max-deliveries advisory covers the case where the
 * invoker of that last delivery died too.
 *
 * The same loop serves every stream of invocations (a `WorkSource`): the async queue, whose messages are
 * protobuf `InvokeRequest`s, and each trigger's stream, whose messages are a trigger's raw input.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, JetStreamManager, JsMsg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import type { ActivationStore } from '../common/activations';
import { isTerminal, queuedActivation } from '../common/activations';
import type { Activation, InvokeRequest, InvokeResponse } from '../common/codec';
import { ActivationState } from '../common/codec';
import type { ErrorCode } from '../common/errors';
import { ERRORS, HayateError, isRetryable } from '../common/errors';
import type { Logger } from '../common/logger';
import { parseInvocationId } from '../common/names';
import { retry } from '../common/retry';
import { INVOKER_QUEUE } from '../common/subjects';
import type { ExecutionLog } from './execution-log';

/** A stored message as a work source decodes it. */
export interface StoredMessage {
  subject: string;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
  seq: number;
  timestampUnixMs: number;
}

/** A JetStream stream of invocations with its shared durable consumer (the async queue, a trigger's stream). */
export interface WorkSource {
  readonly stream: string;
  readonly ackWaitMs: number;
  readonly maxAttempts: number;
  /** The stream manager (reading or deleting a message by sequence). */
  readonly manager: JetStreamManager;
  /** The server's max-deliveries advisory of the stream's consumer. */
  readonly maxDeliveriesAdvisory: string;
  consumer(): Promise<Consumer>;
  /** The invocation a message stands for. @throws when it stands for none (the message is then dropped) */
  decode(message: StoredMessage): InvokeRequest;
  /**
   * Told when a message's activation is settled: a stored result or failure (`first`), or the redelivery of
   * one already settled (`first` false: its ack was lost). Must not throw.
   */
  settled?(request: InvokeRequest, activation: Activation, first: boolean): void;
}

/** Consumer lifecycle. */
export const AsyncConsumerState = { idle: 'idle', running: 'running', stopping: 'stopping', stopped: 'stopped' } as const;
export type AsyncConsumerState = (typeof AsyncConsumerState)[keyof typeof AsyncConsumerState];

export interface AsyncConsumerDeps {
  nc: NatsConnection;
  queue: WorkSource;
  activations: ActivationStore;
  executions: ExecutionLog;
  invokerId: string;
  /** Messages run at once. */
  slots: number;
  log: Logger;
  /** Runs one invocation at most once per id (local and peers' answers first); never rejects. */
  run(request: InvokeRequest): Promise<InvokeResponse>;
  /** Hands the processing of a message to the invoker, which waits for it when draining. */
  track(work: Promise<unknown>): void;
}

/** Pull wait per request: also how long `stop()` may wait for an idle loop. */
const PULL_EXPIRES_MS = 1000;
/** Give up storing a result after this long (NATS unreachable); the message is then redelivered. */
const STORE_PATIENCE_MS = 30_000;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Backoff of a negatively acknowledged attempt: 0.5 s, 1 s, 2 s, … up to 8 s. */
export function nakDelayMs(attempt: number): number {
  return Math.min(500 * 2 ** Math.max(0, attempt - 1), 8000);
}

/** How long a delivery waits for its activation record to become readable (a JetStream failover takes ~5 s). */
const RECORD_UNREADABLE_WAIT_MS = 10_000;

export class AsyncConsumer {
  private state: AsyncConsumerState = AsyncConsumerState.idle;
  private consumer: Consumer | null = null;
  private readonly loops: Promise<void>[] = [];
  private advisory: Subscription | null = null;
  private stopping: Promise<void> | null = null;
  private readonly log: Logger;

  constructor(private readonly deps: AsyncConsumerDeps) {
    this.log = deps.log.child({ component: 'async-consumer' });
  }

  /** Starts pulling. @throws HayateError when not idle */
  async start(): Promise<void> {
    this.transition(AsyncConsumerState.running, [AsyncConsumerState.idle]);
    this.consumer = await this.deps.queue.consumer();
    for (let i = 0; i < this.deps.slots; i += 1) this.loops.push(this.loop());
    this.advisory = this.deps.nc.subscribe(this.deps.queue.maxDeliveriesAdvisory, {
      queue: INVOKER_QUEUE,
      callback: (err, msg) => {
        if (err === null) void this.onMaxDeliveries(msg.data).catch((e: unknown) => this.log.error({ err: e }, 'max-deliveries advisory not handled'));
      },
    });
    this.log.info({ slots: this.deps.slots, stream: this.deps.queue.stream, ackWaitMs: this.deps.queue.ackWaitMs, maxAttempts: this.deps.queue.maxAttempts }, 'async consumer pulling');
  }

  /** Stops taking messages; resolves once every loop has handed over its current message. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.stopping = (async () => {
      if (this.state === AsyncConsumerState.idle) {
        this.state = AsyncConsumerState.stopped;
        return;
      }
      this.transition(AsyncConsumerState.stopping, [AsyncConsumerState.running]);
      this.advisory?.unsubscribe();
      await Promise.allSettled(this.loops);
      this.transition(AsyncConsumerState.stopped, [AsyncConsumerState.stopping]);
    })();
    return this.stopping;
  }

  private transition(to: AsyncConsumerState, from: readonly AsyncConsumerState[]): void {
    if (!from.includes(this.state)) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot move async consumer from ${this.state} to ${to}`);
    this.log.info({ from: this.state, to }, 'async consumer state');
    this.state = to;
  }

  private async loop(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === null) return;
    while (this.state === AsyncConsumerState.running) {
      let msg: JsMsg | null;
      try {
        msg = await consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (err: unknown) {
        // NATS reconnecting or the stream electing a leader: pull again shortly
        this.log.debug({ err }, 'async pull failed');
        await sleep(250);
        continue;
      }
      if (msg === null) continue;
      if (this.state !== AsyncConsumerState.running) {
        msg.nak();
        break;
      }
      const work = this.process(msg).catch((err: unknown) => this.log.error({ err }, 'async message not handled'));
      this.deps.track(work);
      await work;
    }
  }

  /** Handles one delivery; every path ends in ack, nak or term, or deliberately in none (redelivery). */
  private async process(msg: JsMsg): Promise<void> {
    const { activations, queue } = this.deps;
    const attempt = msg.info.redeliveryCount;
    let request: InvokeRequest;
    try {
      request = queue.decode({ subject: msg.subject, headers: msg.headers, data: msg.data, seq: msg.seq, timestampUnixMs: Math.floor(msg.info.timestampNanos / 1e6) });
      parseInvocationId(request.invocationId);
    } catch (err: unknown) {
      this.log.error({ err, seq: msg.seq }, 'async message is not an InvokeRequest: dropped');
      msg.term();
      return;
    }
    request.attempt = attempt;
    const id = request.invocationId;
    const log = this.log.child({ invocationId: id, fn: request.function, attempt });

    // Without the record we cannot tell a finished activation (its ack lost with a NATS server) from an
    // unfinished one: keep the message (in-progress acks) and read again while JetStream fails over, and
    // hand it back only if the record stays unreadable, rather than risk running it twice.
    let current: Activation | null;
    try {
      current = await retry(() => activations.get(id), { patienceMs: RECORD_UNREADABLE_WAIT_MS, backoff: { initialMs: 250 }, onRetry: () => msg.working() });
    } catch (err: unknown) {
      log.warn({ err }, 'activation record unreadable: handed back');
      msg.nak(RECORD_UNREADABLE_WAIT_MS);
      return;
    }
    if (current !== null && isTerminal(current)) {
      log.info({ state: current.state }, 'redelivery of a finished activation acknowledged');
      queue.settled?.(request, current, false);
      msg.ack();
      return;
    }
    if (attempt > queue.maxAttempts) {
      const reason = `Activation ${id} of ${request.function} failed after ${queue.maxAttempts} attempts: ${current?.reason || 'every invoker that took it stopped before answering'}`;
      await this.storeFailure(request, current?.errorCode || 'HAYATE_ERR_UNAVAILABLE', reason, attempt - 1, log);
      msg.term();
      return;
    }
    const now = Date.now();
    if (request.deadlineUnixMs > 0 && now >= request.deadlineUnixMs) {
      const reason = `Cannot run ${request.function} as its deadline passed ${now - request.deadlineUnixMs} ms before an invoker took it`;
      log.warn({ deadlineUnixMs: request.deadlineUnixMs, lateMs: now - request.deadlineUnixMs }, 'dropped expired activation');
      await this.storeFailure(request, 'HAYATE_ERR_DEADLINE_EXCEEDED', reason, attempt, log);
      msg.term();
      return;
    }

    const marked = await activations
      .update(id, (cur) => (cur !== null && isTerminal(cur) ? null : { ...this.base(cur, request), state: ActivationState.running, attempts: attempt, invokerId: this.deps.invokerId, startedUnixMs: Date.now() }))
      .catch((err: unknown) => {
        log.warn({ err }, 'activation not marked running');
        return null;
      });
    // another invoker finished it between the read above and this update (its ack was late, so the server
    // redelivered while it stored the result): the update left the finished record as it was
    if (marked !== null && isTerminal(marked)) {
      log.info({ state: marked.state }, 'activation finished meanwhile by another delivery: acknowledged');
      queue.settled?.(request, marked, false);
      msg.ack();
      return;
    }

    // keep the message while the function runs and until its result is stored: an invoker that dies stops
    // these, and the server redelivers; one that lives does not let the ack wait lapse while it stores
    const working = setInterval(() => msg.working(), Math.max(100, Math.floor(queue.ackWaitMs / 4)));
    try {
      await this.runAndSettle(request, msg, attempt, log);
    } finally {
      clearInterval(working);
    }
  }

  /** Runs the function of a delivery and stores its result or hands it back (the rest of `process`). */
  private async runAndSettle(request: InvokeRequest, msg: JsMsg, attempt: number, log: Logger): Promise<void> {
    const { activations, queue } = this.deps;
    const id = request.invocationId;
    const response = await this.deps.run(request);

    if (isRetryable(response.errorCode) && attempt < queue.maxAttempts) {
      const delay = nakDelayMs(attempt);
      log.warn({ code: response.errorCode, delayMs: delay }, 'async attempt handed back');
      await activations
        .update(id, (cur) => (cur !== null && isTerminal(cur) ? null : { ...this.base(cur, request), state: ActivationState.queued, attempts: attempt, reason: `attempt ${attempt}: ${response.errorCode}: ${response.errorMessage}` }))
        .catch((err: unknown) => log.warn({ err }, 'activation not marked queued'));
      msg.nak(delay);
      return;
    }

    const stored = await this.storeResult(request, response, attempt, msg, log);
    if (stored === null) return; // NATS unreachable for long: the redelivery finds this answer through the peers
    this.deps.executions.answered(id, attempt);
    queue.settled?.(request, stored, true);
    await msg.ackAck().catch((err: unknown) => log.warn({ err: describe(err) }, 'ack not confirmed: a redelivery will find the record finished'));
  }

  /** The record to change: the current one, or a fresh one when it is missing (expired, never written). */
  private base(current: Activation | null, request: InvokeRequest): Activation {
    return current ?? queuedActivation(parseInvocationId(request.invocationId), request.function, this.deps.queue.maxAttempts, request.deadlineUnixMs);
  }

  /** Stores the final answer (retrying while NATS is unreachable, keeping the message meanwhile). */
  private async storeResult(request: InvokeRequest, r: InvokeResponse, attempt: number, msg: JsMsg, log: Logger): Promise<Activation | null> {
    const ok = r.status === 'OK';
    let reason = '';
    if (!ok) reason = isRetryable(r.errorCode) ? `Activation failed after ${attempt} attempts: ${r.errorCode}: ${r.errorMessage}` : `${r.errorCode}: ${r.errorMessage}`;
    const store = () =>
      this.deps.activations.update(request.invocationId, (cur) =>
        cur !== null && isTerminal(cur)
          ? null
          : {
              ...this.base(cur, request),
              state: ok ? ActivationState.succeeded : ActivationState.failed,
              reason,
              attempts: attempt,
              status: r.status,
              exitCode: r.exitCode,
              output: r.output,
              stderr: r.stderr,
              timings: r.timings,
              tier: r.tier,
              invokerId: r.invokerId,
              errorCode: r.errorCode,
              finishedUnixMs: Date.now(),
            },
      );
    try {
      const after = await retry(store, { patienceMs: STORE_PATIENCE_MS, backoff: { initialMs: 100, factor: 2, maxMs: 1000 }, onRetry: () => msg.working() });
      log.info({ state: after?.state, status: r.status }, 'activation finished');
      return after;
    } catch (err: unknown) {
      log.error({ err }, 'activation result not stored: leaving the message for redelivery');
      return null;
    }
  }

  private async storeFailure(request: InvokeRequest, code: ErrorCode, reason: string, attempts: number, log: Logger): Promise<void> {
    const after = await this.deps.activations.update(request.invocationId, (cur) =>
      cur !== null && isTerminal(cur)
        ? null
        : { ...this.base(cur, request), state: ActivationState.failed, status: ERRORS[code].status, exitCode: -1, errorCode: code, reason, attempts: Math.max(attempts, cur?.attempts ?? 0), finishedUnixMs: Date.now() },
    );
    log.warn({ code, reason, state: after?.state }, 'activation failed');
    if (after !== null) this.deps.queue.settled?.(request, after, true);
  }

  /**
   * The server gave up on a message (max_deliver) whose last delivery was never answered: record the
   * activation failed and remove the message, so nothing stays queued silently.
   */
  private async onMaxDeliveries(data: Uint8Array): Promise<void> {
    const advisory = JSON.parse(new TextDecoder().decode(data)) as { stream_seq?: number; deliveries?: number };
    const seq = advisory.stream_seq;
    if (typeof seq !== 'number') return;
    const jsm = this.deps.queue.manager;
    const stored = await jsm.streams.getMessage(this.deps.queue.stream, { seq }).catch(() => null);
    if (stored === null) return; // acknowledged meanwhile
    const request = this.deps.queue.decode({ subject: stored.subject, headers: stored.header, data: stored.data, seq: stored.seq, timestampUnixMs: stored.time.getTime() });
    const log = this.log.child({ invocationId: request.invocationId, fn: request.function });
    const reason = `Activation ${request.invocationId} of ${request.function} failed after ${advisory.deliveries ?? '?'} deliveries: every invoker that took it stopped before answering`;
    await this.storeFailure(request, 'HAYATE_ERR_UNAVAILABLE', reason, this.deps.queue.maxAttempts, log);
    await jsm.streams.deleteMessage(this.deps.queue.stream, seq).catch(() => false);
  }
}
