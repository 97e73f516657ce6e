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
 * stored answer instead of a second run, and an invoker given a retry first asks its peers for the answer
 * (`<prefix>.v1.answer.<id>`), so one whose answer was lost on the way (a NATS server died) is not run twice.
 * Every attempt keeps listening until the call ends: a late answer of an attempt taken for dead still wins.
 */
import { createInbox, headers as natsHeaders } from 'nats';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { InvokeRequest, InvokeResponse } from './codec';
import { decodeInvokeResponse, encodeInvokeRequest } from './codec';
import { HayateError, isRetryable } from './errors';
import type { ErrorCode } from './errors';
import { EndOfTurn } from './end-of-turn';
import { Header, Progress } from './headers';
import type { Logger } from './logger';
import type { FunctionName, InvocationId } from './names';
import { newInvocationId, parseFunctionName } from './names';
import { Subjects } from './subjects';

/**
 * How long an invocation with `inputBytes` of input may stay silent (no answer, no beat) before its invoker
 * is taken for dead: `deadAfterMs`, plus 1 ms per KiB of input (1 s per MiB). A bare nats.js request/reply
 * of 6 MiB takes
 * 250–800 ms on an idle 2-core node here, and an invoker moving tens of such messages sends its beats
 * seconds late: with 150 ms-1.5 s of patience, 6 MiB calls were taken for dead and run twice (issue 11,
 * finding 4). Used by callers and by invokers asking their peers for a retry's answer.
 */
export function patienceMs(deadAfterMs: number, inputBytes: number): number {
  return deadAfterMs + inputPatienceMs(inputBytes);
}

/** The part of a patience that is for the input: 1 ms per KiB (1 s per MiB; nothing for small inputs). */
export function inputPatienceMs(inputBytes: number): number {
  return Math.floor(inputBytes / 1024);
}

/** Attempts answered OVERLOADED before the caller gives up with OVERLOADED (503) instead of waiting out the deadline. */
const OVERLOADED_TRIES = 3;

/** Options of an `InvocationClient`. */
export interface InvocationClientOptions {
  /** Subject prefix. @default 'hayate' */
  prefix?: string;
  /** Beat period asked of invokers. @default 500 */
  beatMs?: number;
  /** Silence after which the invoker is taken for dead and the request re-sent (see `patienceMs`). @default 1500 */
  deadAfterMs?: number;
  /** Pause before re-sending after "no responders" (none in the queue group right now). @default 100 */
  noResponderBackoffMs?: number;
  /** Extra time past the function's timeout before the caller gives up. @default 5000 */
  graceMs?: number;
  /** Function timeout assumed when the request does not give one. @default 10000 */
  defaultTimeoutMs?: number;
  /**
   * Invokers that took the call (beat) and then fell silent, after which it is not re-sent again: a request
   * whose runs kill invokers must not go around the fleet killing each (a poison pill). Within the default
   * 10 s timeout the deadline alone allows about 5 such re-sends; the bound matters for long timeouts (up to
   * 15 minutes). At 3, the chaos suite's SIGKILL every 1.5 s on a loaded node lost calls whose invokers were
   * busy (silent) rather than dead: "killing invokers loses nothing" comes first; the root causes of
   * invoker deaths are guarded where they arise (module bounds, worker heap limits, quarantine). A silence
   * stops counting when its invoker is heard of again (a late beat or answer: it was busy, not dead). @default 5
   */
  maxDeaths?: number;
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
  /**
   * Failover time in ms: from the last sign of life of the first attempt that failed (its send, its last
   * beat, or its "no responders") to the answer; 0 when the first attempt answered. An upper bound on the
   * time from the death of the invoker to the answer.
   */
  failoverMs: number;
  /**
   * Detection time in ms: the longest silence (no answer, no beat) after which an attempt was taken for dead
   * and the request re-sent; 0 when no attempt was. The death happened within this long before the re-send.
   */
  detectMs: number;
}

/** One send of the request, under its own reply token. */
interface Attempt {
  token: string;
  number: number;
  /** Last time anything arrived for it (or it was sent). */
  lastHeardMs: number;
  /** An invoker took it: a beat or ack arrived. */
  taken: boolean;
  /** Counted among the deaths: it fell silent after it was taken (until it is heard of again). */
  dead: boolean;
}

type Outcome = { kind: 'answer'; response: InvokeResponse; attempts: number; failoverMs: number; detectMs: number } | { kind: 'gave-up'; error: unknown };

export class InvocationClient {
  private readonly subjects: Subjects;
  private readonly inbox: string;
  private readonly sub: Subscription;
  /** Requests leave together at the end of each turn of the event loop. */
  private readonly outbox = new EndOfTurn();
  /** Reply token → the handler of the attempt it belongs to. */
  private readonly pending = new Map<string, (msg: Msg) => void>();
  /** Calls in progress, to end them on close. */
  private readonly calls = new Set<(error: unknown) => void>();
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
      maxDeaths: options.maxDeaths ?? 5,
    };
    // one wildcard inbox for every call: no subscription churn on the hot path
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => {
        if (err !== null) return;
        const token = msg.subject.slice(this.inbox.length + 1);
        this.pending.get(token)?.(msg);
      },
    });
  }

  /**
   * Invokes a function and waits for its answer, re-sending to another invoker when the one that took it
   * dies. Function failures come back as a response with a non-OK status, not as a throw.
   * @throws HayateError HAYATE_ERR_NO_INVOKER when no invoker took the request before the deadline,
   *   HAYATE_ERR_TIMEOUT when invokers kept failing until the deadline, HAYATE_ERR_INVALID_NAME for a bad name,
   *   HAYATE_ERR_UNAVAILABLE when the client was closed meanwhile
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
    const outcome = await this.run(this.subjects.fn('invoke', fn), request, deadline);
    if (outcome.kind === 'gave-up') throw outcome.error;
    return { response: outcome.response, attempts: outcome.attempts, failoverMs: outcome.failoverMs, detectMs: outcome.detectMs };
  }

  /** Stops listening; calls in progress fail with HAYATE_ERR_UNAVAILABLE. */
  close(): void {
    this.sub.unsubscribe();
    for (const end of [...this.calls]) end(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot finish the call as the invocation client was closed'));
    this.pending.clear();
  }

  /**
   * Sends `request` until an answer comes. Every attempt keeps listening on its own token until the call
   * ends, so a late answer of an attempt that was taken for dead (a slow invoker, a lost beat) still wins.
   */
  private run(subject: string, request: InvokeRequest, deadline: number): Promise<Outcome> {
    const fn = request.function;
    const log = this.options.log;
    const tokens: string[] = [];
    let current: Attempt | null = null;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    /** Last sign of life of the first attempt that failed; 0 while none has. */
    let failedSinceMs = 0;
    let detectMs = 0;
    let lastReason = 'no invoker answered';
    let deaths = 0;
    const patience = patienceMs(this.o.deadAfterMs, request.input.byteLength);
    let lastCode: ErrorCode = 'HAYATE_ERR_NO_INVOKER';

    return new Promise<Outcome>((resolve) => {
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const t of tokens) this.pending.delete(t);
        this.calls.delete(end);
        resolve(outcome);
      };
      const end = (error: unknown): void => settle({ kind: 'gave-up', error });
      this.calls.add(end);

      // NO_INVOKER only when no invoker took the call: one that did (it beat) but did not finish in time is a TIMEOUT
      const giveUp = (): void => {
        const code = current?.taken === true && lastCode === 'HAYATE_ERR_NO_INVOKER' ? 'HAYATE_ERR_TIMEOUT' : lastCode;
        const reason = current?.taken === true && lastCode === 'HAYATE_ERR_NO_INVOKER' ? `invoker ${current.number} took it and did not answer before the deadline` : lastReason;
        end(new HayateError(code, `Cannot invoke ${fn}: gave up after ${request.attempt} attempts (${reason})`));
      };

      /** The current attempt failed: note why and send again after `delayMs`. */
      const failover = (attempt: Attempt, reason: string, code: typeof lastCode, delayMs: number): void => {
        if (settled || attempt !== current) return;
        current = null;
        clearTimeout(timer);
        if (failedSinceMs === 0) failedSinceMs = attempt.lastHeardMs;
        lastReason = reason;
        lastCode = code;
        log?.warn({ invocationId: request.invocationId, fn, attempt: attempt.number, reason }, 'invocation re-sent');
        if (Date.now() + delayMs >= deadline) return giveUp();
        timer = setTimeout(send, delayMs);
      };

      /** Called when the attempt's silence may have lasted `patience`. */
      const check = (attempt: Attempt): void => {
        if (settled || attempt !== current) return;
        const now = Date.now();
        if (now >= deadline) return giveUp();
        const silentMs = now - attempt.lastHeardMs;
        if (silentMs < patience) return arm(attempt, patience - silentMs);
        detectMs = Math.max(detectMs, silentMs);
        // a death counts when an invoker had taken the call (it beat) and then fell silent: what a request
        // that crashes its invoker does; an attempt never heard of was more likely lost on the way
        if (attempt.taken) {
          deaths += 1;
          attempt.dead = true;
        }
        if (deaths >= this.o.maxDeaths) {
          log?.error({ invocationId: request.invocationId, fn, attempts: attempt.number, deaths }, 'invocation not re-sent: its invokers kept dying');
          return end(new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot invoke ${fn}: ${deaths} invokers went silent while running it; it is not re-sent again, so that a request that kills invokers cannot take down the fleet`));
        }
        failover(attempt, `no answer nor beat for ${silentMs} ms`, 'HAYATE_ERR_TIMEOUT', 0);
      };

      const arm = (attempt: Attempt, waitMs: number): void => {
        clearTimeout(timer);
        const wait = Math.max(1, Math.min(waitMs, deadline - Date.now()));
        // setImmediate: after an event-loop stall, read the answers and beats already waiting in the socket
        // before deciding that the invoker is dead (timers run before I/O in Node's loop)
        timer = setTimeout(() => setImmediate(() => check(attempt)), wait);
      };

      const onMessage = (attempt: Attempt, msg: Msg): void => {
        if (settled) return;
        attempt.lastHeardMs = Date.now();
        if (attempt.dead) {
          // heard of after its silence: its invoker was busy (a starved CPU, a long pause), not dead, and does
          // not count towards the deaths that stop the re-sends (the chaos suite on a loaded node lost a call
          // to 5 such silences among 10 kills)
          attempt.dead = false;
          deaths -= 1;
        }
        if (msg.headers?.hasError === true && msg.headers.code === 503) {
          const backoff = Math.min(this.o.noResponderBackoffMs * attempt.number, 1000);
          return failover(attempt, 'no responders in the queue group', 'HAYATE_ERR_NO_INVOKER', backoff);
        }
        const progress = msg.headers?.get(Header.progress);
        if (progress === Progress.beat || progress === Progress.ack) {
          attempt.taken = true;
          return;
        }
        let response: InvokeResponse;
        try {
          response = decodeInvokeResponse(msg.data);
        } catch {
          return failover(attempt, 'malformed answer', 'HAYATE_ERR_TIMEOUT', 0);
        }
        const code = response.errorCode;
        if (code !== '' && isRetryable(code)) {
          // an invoker that says "overloaded" is answered at once elsewhere; after OVERLOADED_TRIES of them the
          // caller hears so (503) now rather than a timeout later
          failover(attempt, `${code}: ${response.errorMessage}`, code, Math.min(this.o.noResponderBackoffMs * attempt.number, 1000));
          if (code === 'HAYATE_ERR_OVERLOADED' && attempt.number >= OVERLOADED_TRIES) giveUp();
          return;
        }
        settle({ kind: 'answer', response, attempts: request.attempt, failoverMs: failedSinceMs === 0 ? 0 : Date.now() - failedSinceMs, detectMs });
      };

      const send = (): void => {
        if (settled) return;
        if (Date.now() >= deadline) return giveUp();
        request.attempt += 1;
        const attempt: Attempt = { token: String((this.seq += 1)), number: request.attempt, lastHeardMs: Date.now(), taken: false, dead: false };
        current = attempt;
        tokens.push(attempt.token);
        this.pending.set(attempt.token, (msg) => onMessage(attempt, msg));
        const h = natsHeaders();
        h.set(Header.progress, String(this.o.beatMs));
        h.set(Header.attempt, String(attempt.number));
        arm(attempt, patience);
        const data = encodeInvokeRequest(request);
        // with the other requests of this turn, in one socket write (end-of-turn.ts)
        this.outbox.post(() => {
          if (settled) return;
          try {
            this.nc.publish(subject, data, { reply: `${this.inbox}.${attempt.token}`, headers: h });
          } catch (err: unknown) {
            // refused before sending (over max_payload, connection closed): no other invoker would do better;
            // the NATS error goes up as it is, for the caller to map (the controller answers 413 for size)
            end(err);
          }
        });
      };

      send();
    });
  }
}
