/**
 * Answers shared between invokers, so that a retry runs a function again only when no live invoker has run
 * it (SPEC §7). A retry (attempt > 1) is sent to the queue group and may land on any invoker, not the one
 * that ran the first attempt; that one may be alive, its answer lost on the way (a NATS server died, the
 * caller reconnected) or still running (the caller missed its beats). So before running a retry an invoker
 * asks every peer on `<prefix>.v1.answer.<id>`:
 *
 *  - a peer that runs or ran `<id>` replies `ack` at once, a `beat` every beatMs while it runs, then the
 *    protobuf InvokeResponse;
 *  - a peer that does not hold it stays silent.
 *
 * The asker runs the function itself when nobody acknowledged within `lookupMs`, or when the holder went
 * silent for `deadAfterMs` (it died). Peers that are themselves still asking stay silent, so two askers
 * never wait for each other.
 */
import { createInbox, headers as natsHeaders } from 'nats';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { InvokeResponse } from '../common/codec';
import { decodeInvokeResponse, encodeInvokeResponse } from '../common/codec';
import { isRetryable } from '../common/errors';
import { inputPatienceMs, patienceMs } from '../common/invocation-client';
import { Header, Progress } from '../common/headers';
import type { Logger } from '../common/logger';
import type { Subjects } from '../common/subjects';
import type { RecentResults, RequestContent } from './recent-results';
import { invocationKey, requestDigest } from './recent-results';

export interface PeerAnswersOptions {
  nc: NatsConnection;
  subjects: Subjects;
  recent: RecentResults;
  invokerId: string;
  log: Logger;
  /** Beat period while a held invocation runs. */
  beatMs: number;
  /** Silence of a holder after which it is taken for dead. */
  deadAfterMs: number;
  /**
   * How long to wait for any holder to speak up, plus 1 ms per KiB of the request's input
   * (`inputPatienceMs`): a holder whose event loop is busy moving large payloads answers late, and an asker
   * that gave up after 150 ms ran 6 MiB invocations a second time (issue 11, finding 4). A live holder
   * acknowledges within milliseconds; a longer wait for small inputs only delays the re-run after a death.
   * @default 150
   */
  lookupMs?: number;
}

const EMPTY = new Uint8Array(0);

export class PeerAnswers {
  private sub: Subscription | null = null;
  private readonly lookupMs: number;

  constructor(private readonly o: PeerAnswersOptions) {
    this.lookupMs = o.lookupMs ?? 150;
  }

  /** Starts answering peers' lookups. */
  start(): void {
    this.sub = this.o.nc.subscribe(this.o.subjects.allAnswers(), { callback: (err, msg) => (err === null ? this.answerPeer(msg) : undefined) });
  }

  /** Stops answering lookups. Idempotent. */
  stop(): void {
    this.sub?.unsubscribe();
    this.sub = null;
  }

  /**
   * Asks the peers for the answer of invocation `invocationId` of `request` (same function, same content).
   * @param untilUnixMs give up waiting on a holder at this time
   * @returns the answer, or null when no live peer holds it (then run it here)
   */
  lookup(invocationId: string, request: RequestContent, untilUnixMs: number): Promise<InvokeResponse | null> {
    const { nc, subjects } = this.o;
    const inbox = createInbox();
    const waitMs = this.lookupMs + inputPatienceMs(request.input.byteLength);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let lastHeardMs = Date.now();
      let acknowledged = false;
      const done = (answer: InvokeResponse | null): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(answer);
      };
      const check = (): void => {
        const now = Date.now();
        const limit = acknowledged ? patienceMs(this.o.deadAfterMs, request.input.byteLength) : waitMs;
        if (now >= untilUnixMs || now - lastHeardMs >= limit) return done(null);
        timer = setTimeout(check, Math.min(limit - (now - lastHeardMs), untilUnixMs - now));
      };
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err !== null) return;
          lastHeardMs = Date.now();
          const progress = msg.headers?.get(Header.progress);
          if (progress === Progress.ack || progress === Progress.beat) {
            acknowledged = true;
            return;
          }
          try {
            const answer = decodeInvokeResponse(msg.data);
            done(isRetryable(answer.errorCode) ? null : answer);
          } catch {
            done(null);
          }
        },
      });
      const h = natsHeaders();
      h.set(Header.invoker, this.o.invokerId);
      h.set(Header.function, request.function);
      h.set(Header.requestDigest, requestDigest(request));
      nc.publish(subjects.answer(invocationId), EMPTY, { reply: inbox, headers: h });
      timer = setTimeout(check, waitMs);
    });
  }

  /**
   * A peer asks for an answer: reply when this invoker runs or ran the same invocation (function, id and
   * request digest), else stay silent.
   */
  private answerPeer(msg: Msg): void {
    const id = this.o.subjects.invocationOfAnswer(msg.subject);
    const h = msg.headers;
    if (id === null || !msg.reply || h === undefined || h.get(Header.invoker) === this.o.invokerId) return;
    const held = this.o.recent.held(invocationKey(h.get(Header.function), id), h.get(Header.requestDigest));
    if (held === undefined) return;
    const answer = held.answer;
    const progress = (value: string): void => {
      const h = natsHeaders();
      h.set(Header.progress, value);
      h.set(Header.invoker, this.o.invokerId);
      msg.respond(EMPTY, { headers: h });
    };
    progress(Progress.ack);
    const beat = setInterval(() => progress(Progress.beat), Math.max(50, this.o.beatMs));
    answer.then(
      (r) => {
        clearInterval(beat);
        msg.respond(encodeInvokeResponse(r));
        this.o.log.info({ invocationId: id }, 'answer handed to a peer');
      },
      () => {
        // refused before running: the asker should run it; silence tells it so after deadAfterMs, sooner by
        // an answer it will not replay
        clearInterval(beat);
        msg.respond(encodeInvokeResponse({ ...EMPTY_RESPONSE, invocationId: id, invokerId: this.o.invokerId }));
      },
    );
  }
}

/** A "try again elsewhere" answer: never replayed, tells the asker to run the invocation itself. */
const EMPTY_RESPONSE: InvokeResponse = {
  invocationId: '',
  status: 'OVERLOADED',
  exitCode: -1,
  output: EMPTY,
  stderr: EMPTY,
  tier: 'wasm',
  invokerId: '',
  coldStart: false,
  timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: 0 },
  errorCode: 'HAYATE_ERR_UNAVAILABLE',
  errorMessage: 'The holder could not run it',
  attempt: 0,
};
