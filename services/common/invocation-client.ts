/**
 * A caller of `hayate.v1.invoke.<fn>` that loses nothing when invokers die (SPEC §7). The controller uses
 * it; any TypeScript program can.
 *
 * How a dead invoker is told from a slow function: every request carries `Hayate-Progress: <beatMs>`, and
 * the invoker that took it sends an empty `beat` message on the reply subject every beatMs while the
 * function runs (nothing for calls that finish sooner, so fast calls cost one message each way). When
 * neither the answer nor a beat arrives for `deadAfterMs`, or NATS answers "no responders", the same
 * request (same invocation id, attempt + 1) is sent again and another invoker of the queue group takes
 * it. Invokers remember recent ids, so a retry that lands on an invoker that already ran it gets the
 * stored answer instead of a second run.
 */
import { createInbox, headers as natsHeaders } from 'nats';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { InvokeRequest, InvokeResponse } from './codec';
import { decodeInvokeResponse, encodeInvokeRequest } from './codec';
import { ERRORS, HayateError } from './errors';
import { Header, Progress } from './headers';
import type { Logger } from './logger';
import type { FunctionName, InvocationId } from './names';
import { newInvocationId, parseFunctionName } from './names';
import { Subjects } from './subjects';

/** Options of an `InvocationClient`. */
export interface InvocationClientOptions {
  /** Subject prefix. @default 'hayate' */
  prefix?: string;
  /** Beat period asked of invokers. @default 500 */
  beatMs?: number;
  /** Silence after which the invoker is taken for dead and the request re-sent. @default 1500 */
  deadAfterMs?: number;
  /** Pause before re-sending after "no responders" (none in the queue group right now). @default 100 */
  noResponderBackoffMs?: number;
  /** Extra time past the function's timeout before the caller gives up. @default 5000 */
  graceMs?: number;
  /** Function timeout assumed when the request does not give one. @default 10000 */
  defaultTimeoutMs?: number;
  log?: Logger;
}

/** What a caller gives; the client fills in id, deadline and attempt. */
export interface CallInput {
  function: FunctionName | string;
  input?: Uint8Array;
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  invocationId?: InvocationId | string;
}

/** The answer plus how it was reached. */
export interface CallResult {
  response: InvokeResponse;
  /** Attempts sent (1 = no failover). */
  attempts: number;
  /** Time spent waiting on invokers that died or had no room, in ms. */
  failoverMs: number;
}

interface Pending {
  onMessage: (msg: Msg) => void;
}

export class InvocationClient {
  private readonly subjects: Subjects;
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private readonly o: Required<Omit<InvocationClientOptions, 'log' | 'prefix'>>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: InvocationClientOptions = {},
  ) {
    this.subjects = new Subjects(options.prefix ?? 'hayate');
    this.o = {
      beatMs: options.beatMs ?? 500,
      deadAfterMs: options.deadAfterMs ?? 1500,
      noResponderBackoffMs: options.noResponderBackoffMs ?? 100,
      graceMs: options.graceMs ?? 5000,
      defaultTimeoutMs: options.defaultTimeoutMs ?? 10_000,
    };
    // one wildcard inbox for every call: no subscription churn on the hot path
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const token = msg.subject.slice(this.inbox.length + 1);
        this.pending.get(token)?.onMessage(msg);
      },
    });
  }

  /**
   * Invokes a function and waits for its answer, re-sending to another invoker when the one that took it
   * dies. Function failures come back as a response with a non-OK status, not as a throw.
   * @throws HayateError HAYATE_ERR_NO_INVOKER when no invoker took the request before the deadline,
   *   HAYATE_ERR_TIMEOUT when invokers kept failing until the deadline, HAYATE_ERR_INVALID_NAME for a bad name
   */
  async call(input: CallInput): Promise<CallResult> {
    const fn = parseFunctionName(input.function);
    const timeoutMs = input.timeoutMs ?? 0;
    const deadline = Date.now() + (timeoutMs || this.o.defaultTimeoutMs) + this.o.graceMs;
    const request: InvokeRequest = {
      invocationId: input.invocationId ?? newInvocationId(),
      function: fn,
      input: input.input ?? new Uint8Array(0),
      args: input.args ?? [],
      env: input.env ?? {},
      timeoutMs,
      deadlineUnixMs: deadline,
      attempt: 0,
    };
    const subject = this.subjects.fn('invoke', fn);
    let failoverMs = 0;
    let lastReason = 'no invoker answered';
    while (Date.now() < deadline) {
      request.attempt += 1;
      const started = Date.now();
      const outcome = await this.attempt(subject, request, deadline);
      if (outcome.kind === 'answer') {
        const code = outcome.response.errorCode;
        const retryable = code !== '' && code in ERRORS && ERRORS[code as keyof typeof ERRORS].retryable && code !== 'HAYATE_ERR_INTERNAL';
        if (!retryable) return { response: outcome.response, attempts: request.attempt, failoverMs };
        lastReason = `${code}: ${outcome.response.errorMessage}`;
      } else {
        lastReason = outcome.reason;
      }
      failoverMs += Date.now() - started;
      this.options.log?.warn({ invocationId: request.invocationId, fn, attempt: request.attempt, reason: lastReason }, 'invocation re-sent');
      if (outcome.kind === 'no-responders' || outcome.kind === 'answer') await sleep(Math.min(this.o.noResponderBackoffMs * request.attempt, 1000));
    }
    const code = lastReason.startsWith('no responders') || lastReason === 'no invoker answered' ? 'HAYATE_ERR_NO_INVOKER' : 'HAYATE_ERR_TIMEOUT';
    throw new HayateError(code, `Cannot invoke ${fn}: gave up after ${request.attempt} attempts (${lastReason})`);
  }

  /** Stops listening; calls in progress fail. */
  close(): void {
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.onMessage({ subject: '', data: new Uint8Array(0), headers: undefined } as unknown as Msg);
    this.pending.clear();
  }

  private attempt(subject: string, request: InvokeRequest, deadline: number): Promise<{ kind: 'answer'; response: InvokeResponse } | { kind: 'dead' | 'no-responders'; reason: string }> {
    const token = String((this.seq += 1));
    const h = natsHeaders();
    h.set(Header.progress, String(this.o.beatMs));
    h.set(Header.attempt, String(request.attempt));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout;
      const finish = (value: Parameters<typeof resolve>[0]): void => {
        clearTimeout(timer);
        this.pending.delete(token);
        resolve(value);
      };
      const arm = (): void => {
        clearTimeout(timer);
        const wait = Math.max(1, Math.min(this.o.deadAfterMs, deadline - Date.now()));
        timer = setTimeout(() => finish({ kind: 'dead', reason: `no answer nor beat for ${wait} ms` }), wait);
      };
      this.pending.set(token, {
        onMessage: (msg) => {
          if (msg.headers?.hasError === true && msg.headers.code === 503) return finish({ kind: 'no-responders', reason: 'no responders in the queue group' });
          const progress = msg.headers?.get(Header.progress);
          if (progress === Progress.beat || progress === Progress.ack) return arm();
          if (msg.subject === '') return finish({ kind: 'dead', reason: 'client closed' });
          try {
            finish({ kind: 'answer', response: decodeInvokeResponse(msg.data) });
          } catch {
            finish({ kind: 'dead', reason: 'malformed answer' });
          }
        },
      });
      arm();
      this.nc.publish(subject, encodeInvokeRequest(request), { reply: `${this.inbox}.${token}`, headers: h });
    });
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
