/**
 * The invoker's NATS side: the `hayate-invoker` micro service with its `invoke` (protobuf) and `call` (raw
 * bytes) endpoints in the queue group, and `status` (every invoker answers). It accepts and decodes a
 * message, keeps the caller told that it is alive (progress beats), hands the request to the runner, and
 * sends the one answer, in the form the subject asks for.
 */
import { hostname } from 'node:os';
import { headers as natsHeaders } from 'nats';
import type { Msg, MsgHdrs, NatsConnection, Service, ServiceMsg, Subscription } from 'nats';
import type { InvokeRequest, InvokeResponse, InvokerStatus } from '../common/codec';
import { decodeInvokeRequest, encodeInvokeResponse, encodeInvokerStatus } from '../common/codec';
import type { Config } from '../common/config';
import type { EndOfTurn } from '../common/end-of-turn';
import { ERRORS, HayateError, toHayateError } from '../common/errors';
import { Header, Progress } from '../common/headers';
import type { Logger } from '../common/logger';
import { newInvocationId } from '../common/names';
import type { Subjects } from '../common/subjects';
import { INVOKER_QUEUE, INVOKER_SERVICE } from '../common/subjects';
import { version } from '../common/version';
import type { ExecutionLog } from './execution-log';
import type { InvocationRunner } from './invocation-runner';

type Kind = 'invoke' | 'call';

export interface EndpointDeps {
  nc: NatsConnection;
  config: Readonly<Config>;
  log: Logger;
  subjects: Subjects;
  runner: InvocationRunner;
  executions: ExecutionLog;
  /** This invoker's status, answered on `hayate.v1.status`. */
  status: () => InvokerStatus;
  /** Registers work that a drain waits for. */
  track: (work: Promise<unknown>) => void;
  /** Answers leave together at the end of each turn of the event loop (log entries behind them). */
  outbox: EndOfTurn;
}

const EMPTY = new Uint8Array(0);

export class NatsEndpoint {
  private service: Service | null = null;
  private statusSub: Subscription | null = null;
  constructor(private readonly deps: EndpointDeps) {}

  /** Subscribes the endpoints and the status subject. */
  async start(): Promise<void> {
    const { nc, config, subjects } = this.deps;
    this.service = await nc.services.add({
      name: INVOKER_SERVICE,
      version,
      description: 'hayate invoker: runs functions in WebAssembly or warm containers',
      queue: INVOKER_QUEUE,
      metadata: { invoker_id: config.invokerId, site: config.site, hostname: hostname() },
    });
    this.service.addEndpoint('invoke', { subject: subjects.allFunctions('invoke'), queue: INVOKER_QUEUE, handler: (err, msg) => this.accept(err, msg, 'invoke') });
    this.service.addEndpoint('call', { subject: subjects.allFunctions('call'), queue: INVOKER_QUEUE, handler: (err, msg) => this.accept(err, msg, 'call') });
    // no queue group: every invoker answers status
    this.statusSub = nc.subscribe(subjects.status(), { callback: (err, msg) => this.answerStatus(err, msg) });
  }

  /** Stops taking invocations (the queue group hands new ones to other invokers). Idempotent. */
  async stopIntake(): Promise<void> {
    await this.service?.stop();
  }

  /** Stops answering status. Idempotent. */
  stopStatus(): void {
    this.statusSub?.unsubscribe();
  }

  private answerStatus(err: Error | null, msg: Msg): void {
    if (err !== null) return;
    msg.respond(encodeInvokerStatus(this.deps.status()));
  }

  /** Entry of every invoke/call message. Never throws: every path ends in one reply. */
  private accept(err: Error | null, msg: ServiceMsg, kind: Kind): void {
    const receivedMs = performance.now();
    if (err !== null) {
      this.deps.log.error({ err }, 'subscription error');
      return;
    }
    this.deps.track(this.handle(msg, kind, receivedMs).catch((e: unknown) => this.deps.log.error({ err: e }, 'reply failed')));
  }

  private async handle(msg: ServiceMsg, kind: Kind, receivedMs: number): Promise<void> {
    const { runner, subjects } = this.deps;
    let request: InvokeRequest | null = null;
    let response: InvokeResponse;
    let stopProgress = (): void => {};
    try {
      request = kind === 'invoke' ? decodeInvokeRequest(msg.data) : this.requestFromCall(msg);
      const fn = subjects.functionOf(kind, msg.subject);
      if (request.function === '') request.function = fn;
      else if (request.function !== fn) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Cannot invoke as the request names function ${JSON.stringify(request.function)} but was sent to ${fn}`);
      stopProgress = this.startProgress(msg);
      response = await runner.run(request, receivedMs);
    } catch (e: unknown) {
      response = runner.refuse(request, toHayateError(e), receivedMs);
    } finally {
      stopProgress();
    }
    if (msg.reply === undefined || msg.reply === '') return; // fire-and-forget publish: nothing to answer
    const fn = request?.function ?? '';
    this.deps.outbox.post(() => {
      this.reply(msg, kind, response, fn);
      // the audit says the answer left once it has: nats.js writes this turn's publishes to its socket in a
      // microtask queued at the first of them, so this one runs after that write (a SIGKILL between the two
      // used to leave an answer in the audit that never left, and its retry counted as a duplicate)
      queueMicrotask(() => this.deps.executions.answered(response.invocationId, response.attempt));
    });
  }

  /**
   * Sends the answer. One that NATS cannot carry (over the server's max_payload: a function deployed with a
   * large max_output_bytes) is replaced by a LIMIT_EXCEEDED answer, never dropped: nats.js throws on such a
   * publish, and the caller would only see silence, then retry the same invocation.
   */
  private reply(msg: ServiceMsg, kind: Kind, response: InvokeResponse, fn: string): void {
    const maxPayload = this.deps.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const send = (r: InvokeResponse): void => {
      if (kind === 'invoke') {
        const data = encodeInvokeResponse(r);
        if (data.byteLength > maxPayload) throw new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `${data.byteLength} bytes`);
        msg.respond(data);
      } else {
        // headers take a few hundred bytes; leave them 4 KiB
        if (r.output.byteLength + 4096 > maxPayload) throw new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `${r.output.byteLength} bytes`);
        msg.respond(r.output, { headers: callHeaders(r) });
      }
    };
    try {
      send(response);
    } catch (err: unknown) {
      const log = this.deps.log;
      const size = response.output.byteLength + response.stderr.byteLength;
      if (!(err instanceof HayateError)) log.error({ err, invocationId: response.invocationId }, 'reply refused by NATS');
      log.warn({ invocationId: response.invocationId, fn, bytes: size, maxPayload }, 'answer too large for NATS');
      const tooLarge = new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Function ${fn} answered ${size} bytes of output and stderr, more than the NATS max_payload of ${maxPayload} bytes allows (lower its max_output_bytes)`);
      send({ ...response, status: tooLarge.status, output: EMPTY, stderr: response.stderr.subarray(0, 4096), errorCode: tooLarge.code, errorMessage: tooLarge.message });
    }
  }

  /** A raw call: body = stdin; optional headers carry id, args and deadline. */
  private requestFromCall(msg: ServiceMsg): InvokeRequest {
    const h = msg.headers;
    const deadline = Number(h?.get(Header.deadline) ?? 0);
    return {
      invocationId: h?.get(Header.invocationId) || newInvocationId(),
      function: '',
      input: msg.data,
      args: h?.values(Header.arg) ?? [],
      env: {},
      timeoutMs: 0,
      deadlineUnixMs: Number.isFinite(deadline) && deadline > 0 ? deadline : 0,
      attempt: Math.max(1, Number(h?.get(Header.attempt) ?? 1) || 1),
    };
  }

  /**
   * When the caller asked for it (`Hayate-Progress: <ms>`), send a `beat` every <ms> while the invocation is
   * here, so the caller can tell a dead invoker from a slow function (SPEC §7). No ack up front: calls that
   * finish within one period cost no extra message.
   */
  private startProgress(msg: ServiceMsg): () => void {
    const every = Number(msg.headers?.get(Header.progress) ?? 0);
    if (!msg.reply || !Number.isFinite(every) || every <= 0) return () => {};
    const send = (value: string) => {
      const h = natsHeaders();
      h.set(Header.progress, value);
      h.set(Header.invoker, this.deps.config.invokerId);
      msg.respond(EMPTY, { headers: h });
    };
    const timer = setInterval(() => send(Progress.beat), Math.max(50, every));
    return () => clearInterval(timer);
  }
}

/** The status of a `call` answer, in headers (SPEC §4), with NATS service error headers on failure. */
function callHeaders(r: InvokeResponse): MsgHdrs {
  const h = natsHeaders();
  h.set(Header.status, r.status);
  h.set(Header.exitCode, String(r.exitCode));
  h.set(Header.tier, r.tier);
  h.set(Header.invocationId, r.invocationId);
  h.set(Header.invoker, r.invokerId);
  h.set(Header.coldStart, String(r.coldStart));
  if (r.errorCode !== '') {
    h.set(Header.errorCode, r.errorCode);
    h.set(Header.serviceError, r.errorMessage.replace(/[\r\n]+/g, ' '));
    h.set(Header.serviceErrorCode, String(ERRORS[r.errorCode].httpStatus));
  }
  return h;
}
