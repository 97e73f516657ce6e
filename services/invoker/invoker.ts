/**
 * The invoker: takes invocations from NATS (queue group `hayate-invokers`), runs them on a tier and replies.
 * It is stateless but for caches: compiled modules, specs (a KV watch), recent answers, warm containers.
 */
import { hostname } from 'node:os';
import { headers as natsHeaders } from 'nats';
import type { Msg, MsgHdrs, NatsConnection, Service, ServiceMsg, Subscription } from 'nats';
import type { FunctionSpec, InvokeRequest, InvokeResponse, InvokerStatus } from '../common/codec';
import { decodeInvokeRequest, encodeInvokeResponse, encodeInvokerStatus, Tier } from '../common/codec';
import type { ActivationStore } from '../common/activations';
import type { AsyncQueue } from '../common/async-queue';
import type { Config } from '../common/config';
import { ERRORS, HayateError, toHayateError } from '../common/errors';
import { Header, Progress } from '../common/headers';
import type { Logger } from '../common/logger';
import type { FunctionName } from '../common/names';
import { checkArgsAndEnv, newInvocationId, parseFunctionName, parseInvocationId } from '../common/names';
import type { FunctionStore } from '../common/store';
import { INVOKER_QUEUE, INVOKER_SERVICE, Subjects } from '../common/subjects';
import { AsyncConsumer } from './async-consumer';
import type { BundleCache } from './bundle-cache';
import { ExecutionLog } from './execution-log';
import type { ExecutionRequest, ExecutionResult, Executor } from './executor';
import { FunctionRuntime, TierState } from './function-runtime';
import { Gate } from './gate';
import type { InvokerObserver } from './metrics';
import type { ModuleCache } from './module-cache';
import { PeerAnswers } from './peer-answers';
import { RecentResults } from './recent-results';
import { SpecCache } from './spec-cache';
import { version } from '../common/version';

/** Invoker lifecycle. */
export const InvokerState = { idle: 'idle', running: 'running', draining: 'draining', stopped: 'stopped' } as const;
export type InvokerState = (typeof InvokerState)[keyof typeof InvokerState];

/** Chooses the tier of each invocation (SPEC §3). The WASM-only router is the default. */
export interface TierRouter {
  /** The executor that should serve this invocation of `runtime`'s function. */
  choose(runtime: FunctionRuntime, request: ExecutionRequest): Executor;
  /** Called after each invocation, to learn latencies and warm up or retire containers. */
  observe(runtime: FunctionRuntime, request: ExecutionRequest, result: ExecutionResult | null, micros: number): void;
  /** Forget a function's tier resources (redeploy, delete). */
  reset(runtime: FunctionRuntime, reason: string): Promise<void>;
  /** Whether a container tier is available, and why not. */
  containerTier(): { available: boolean; reason: string };
  close(): Promise<void>;
}

export interface InvokerDeps {
  nc: NatsConnection;
  config: Readonly<Config>;
  log: Logger;
  store: FunctionStore;
  modules: ModuleCache;
  /** Functions' files (bundles): prefetched on deploy, dropped when unused. @default none */
  bundles?: BundleCache;
  wasm: Executor & { readonly workers: number };
  router: TierRouter;
  /** Async invocations (SPEC §7): both set = this invoker pulls from the async work queue. @default none */
  queue?: AsyncQueue;
  activations?: ActivationStore;
  /** Told of every answer and tier transition (Prometheus metrics). @default none */
  metrics?: InvokerObserver;
}

const EMPTY = new Uint8Array(0);
const micros = (fromMs: number): number => Math.max(0, Math.round((performance.now() - fromMs) * 1000));

export class Invoker {
  private state: InvokerState = InvokerState.idle;
  private readonly subjects: Subjects;
  private readonly specs: SpecCache;
  private readonly runtimes = new Map<string, FunctionRuntime>();
  private readonly gates = new Map<string, Gate>();
  private readonly recent = new RecentResults();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();
  private readonly startedUnixMs = Date.now();
  private pending = 0;
  /** Input bytes of the pending invocations. */
  private pendingBytes = 0;
  private invocations = 0;
  private service: Service | null = null;
  private statusSub: Subscription | null = null;
  private closing: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly executions: ExecutionLog;
  private readonly peers: PeerAnswers;
  private asyncConsumer: AsyncConsumer | null = null;

  constructor(private readonly deps: InvokerDeps) {
    this.log = deps.log.child({ component: 'invoker' });
    this.subjects = new Subjects(deps.config.subjectPrefix);
    this.specs = new SpecCache(deps.store, this.log);
    this.executions = new ExecutionLog(deps.config.executionLogFile, deps.config.invokerId);
    this.peers = new PeerAnswers({ nc: deps.nc, subjects: this.subjects, recent: this.recent, invokerId: deps.config.invokerId, log: deps.log.child({ component: 'peer-answers' }), beatMs: deps.config.beatMs, deadAfterMs: deps.config.deadAfterMs });
  }

  get id(): string {
    return this.deps.config.invokerId;
  }

  /** Starts the spec watch and the subscriptions. @throws HayateError when not idle */
  async start(): Promise<void> {
    this.transition(InvokerState.running, [InvokerState.idle]);
    this.specs.onChange((event, previous) => {
      const name = event.kind === 'put' ? event.spec.name : event.name;
      const changed = event.kind === 'delete' || previous?.digest !== event.spec.digest || previous.memoryMb !== event.spec.memoryMb || previous.image !== event.spec.image || previous.policy !== event.spec.policy;
      if (previous !== undefined && changed) {
        this.deps.modules.evict(previous.digest);
        const runtime = this.runtimes.get(name);
        if (runtime !== undefined) void this.deps.router.reset(runtime, event.kind === 'delete' ? 'deleted' : 'redeployed');
      }
      if (event.kind === 'put') this.prefetch(event.spec);
      this.deps.bundles?.onSpecChange(event, previous, this.specs.all());
    });
    await this.specs.start();
    const { nc, config } = this.deps;
    this.service = await nc.services.add({
      name: INVOKER_SERVICE,
      version,
      description: 'hayate invoker: runs functions in WebAssembly or warm containers',
      queue: INVOKER_QUEUE,
      metadata: { invoker_id: config.invokerId, site: config.site, hostname: hostname() },
    });
    this.service.addEndpoint('invoke', { subject: this.subjects.allFunctions('invoke'), queue: INVOKER_QUEUE, handler: (err, msg) => this.accept(err, msg, 'invoke') });
    this.service.addEndpoint('call', { subject: this.subjects.allFunctions('call'), queue: INVOKER_QUEUE, handler: (err, msg) => this.accept(err, msg, 'call') });
    // no queue group: every invoker answers status
    this.statusSub = nc.subscribe(this.subjects.status(), { callback: (err, msg) => this.answerStatus(err, msg) });
    this.peers.start();
    if (this.deps.queue !== undefined && this.deps.activations !== undefined) {
      this.asyncConsumer = new AsyncConsumer({
        nc,
        subjects: this.subjects,
        queue: this.deps.queue,
        activations: this.deps.activations,
        executions: this.executions,
        invokerId: config.invokerId,
        slots: config.asyncConcurrency || this.deps.wasm.workers,
        log: this.deps.log,
        run: (request) => this.runAsync(request),
        track: (work) => this.track(work),
      });
      await this.asyncConsumer.start();
    }
    this.log.info({ prefix: config.subjectPrefix, workers: this.deps.wasm.workers, site: config.site }, 'invoker listening');
  }

  /**
   * Graceful drain: stop intake, finish in-flight work (bounded by drainTimeoutMs, then abort it), release
   * executors. The caller drains the NATS connection afterwards. Idempotent.
   */
  drain(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      if (this.state === InvokerState.idle) {
        this.state = InvokerState.stopped;
        return;
      }
      this.transition(InvokerState.draining, [InvokerState.running]);
      // the async loops end once their current message is handed over (finished, or aborted at the timeout)
      let asyncStopped: Promise<void> = Promise.resolve();
      const steps: [string, () => Promise<unknown>][] = [
        ['stop intake', async () => {
          asyncStopped = this.asyncConsumer?.stop() ?? Promise.resolve();
          await this.service?.stop();
        }],
        ['finish in-flight', () => this.finishInFlight()],
        ['stop async consumer', () => asyncStopped],
        ['release executors', () => Promise.allSettled([this.deps.router.close(), this.deps.wasm.close()])],
        ['stop watch', async () => this.specs.stop()],
        ['stop status', async () => {
          this.statusSub?.unsubscribe();
          this.peers.stop();
        }],
        ['close execution log', async () => this.executions.close()],
      ];
      for (const [step, run] of steps) {
        try {
          await run();
        } catch (err: unknown) {
          this.log.error({ err, step }, 'drain step failed');
        }
      }
      this.transition(InvokerState.stopped, [InvokerState.draining]);
    })();
    return this.closing;
  }

  /**
   * Fetches and compiles a deployed module in the background, so that the first call after a deploy finds
   * it compiled (an object store read and a compile cost several ms; SPEC's cold-start budget is ~5 ms).
   * Only while the module cache has room to spare: a node with more functions than cache compiles on demand.
   */
  private prefetch(spec: FunctionSpec): void {
    const { config, modules } = this.deps;
    if (!config.prefetchModules || modules.bytes + spec.moduleBytes > config.moduleCacheBytes / 2) return;
    const memoryMb = spec.memoryMb || config.functionDefaults.memoryMb;
    modules.get(spec.digest, memoryMb).catch((err: unknown) => this.log.debug({ err, fn: spec.name }, 'module prefetch failed'));
  }

  /** This invoker's status (`hayate.v1.status`). */
  status(): InvokerStatus {
    const container = this.deps.router.containerTier();
    return {
      invokerId: this.id,
      state: this.state,
      hostname: hostname(),
      pid: process.pid,
      startedUnixMs: this.startedUnixMs,
      workers: this.deps.wasm.workers,
      inFlight: this.pending,
      invocations: this.invocations,
      containerTier: container.available,
      containerReason: container.reason,
      functions: [...this.runtimes.values()].map((r) => r.snapshot()).sort((a, b) => a.name.localeCompare(b.name)),
      moduleCacheBytes: this.deps.modules.bytes,
      site: this.deps.config.site,
      ...(this.deps.bundles?.stats() ?? { bundleCacheBytes: 0, bundleFetches: 0, bundleFetchBytes: 0 }),
    };
  }

  private transition(to: InvokerState, from: readonly InvokerState[]): void {
    if (!from.includes(this.state)) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot move invoker from ${this.state} to ${to}`);
    this.log.info({ from: this.state, to }, 'invoker state');
    this.state = to;
  }

  private async finishInFlight(): Promise<void> {
    if (this.inFlight.size === 0) return;
    this.log.info({ inFlight: this.inFlight.size }, 'waiting for in-flight invocations');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.deps.config.drainTimeoutMs)));
    const outcome = await Promise.race([Promise.allSettled([...this.inFlight]), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn({ inFlight: this.inFlight.size }, 'drain timeout: aborting in-flight invocations');
      this.shutdown.abort();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  private answerStatus(err: Error | null, msg: Msg): void {
    if (err !== null) return;
    msg.respond(encodeInvokerStatus(this.status()));
  }

  /** Entry of every invoke/call message. Never throws: every path ends in one reply. */
  private accept(err: Error | null, msg: ServiceMsg, kind: 'invoke' | 'call'): void {
    const receivedMs = performance.now();
    if (err !== null) {
      this.log.error({ err }, 'subscription error');
      return;
    }
    this.track(this.handle(msg, kind, receivedMs).catch((e: unknown) => this.log.error({ err: e }, 'reply failed')));
  }

  /** Registers work that drain waits for. */
  private track(task: Promise<unknown>): void {
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Runs an async invocation (from the work queue) like a sync one; never rejects. */
  private async runAsync(request: InvokeRequest): Promise<InvokeResponse> {
    const receivedMs = performance.now();
    try {
      const fn = parseFunctionName(request.function);
      return await this.invokeOnce(request, fn, receivedMs);
    } catch (e: unknown) {
      return this.errorResponse(request, toHayateError(e), receivedMs);
    }
  }

  private async handle(msg: ServiceMsg, kind: 'invoke' | 'call', receivedMs: number): Promise<void> {
    let request: InvokeRequest | null = null;
    let response: InvokeResponse;
    let stopProgress = (): void => {};
    try {
      request = kind === 'invoke' ? decodeInvokeRequest(msg.data) : this.requestFromCall(msg);
      const fn = this.subjects.functionOf(kind, msg.subject);
      if (request.function === '') request.function = fn;
      else if (request.function !== fn) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Cannot invoke as the request names function ${JSON.stringify(request.function)} but was sent to ${fn}`);
      parseInvocationId(request.invocationId);
      stopProgress = this.startProgress(msg);
      response = await this.invokeOnce(request, fn, receivedMs);
    } catch (e: unknown) {
      response = this.errorResponse(request, toHayateError(e), receivedMs);
    } finally {
      stopProgress();
    }
    if (msg.reply === undefined || msg.reply === '') return; // fire-and-forget publish: nothing to answer
    this.reply(msg, kind, response, request?.function ?? '');
    this.executions.answered(response.invocationId, response.attempt);
  }

  /**
   * Sends the answer. One that NATS cannot carry (over the server's max_payload: a function deployed with a
   * large max_output_bytes) is replaced by a LIMIT_EXCEEDED answer, never dropped: nats.js throws on such a
   * publish, and the caller would only see silence, then retry the same invocation.
   */
  private reply(msg: ServiceMsg, kind: 'invoke' | 'call', response: InvokeResponse, fn: string): void {
    const maxPayload = this.deps.nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    const send = (r: InvokeResponse): void => {
      if (kind === 'invoke') {
        const data = encodeInvokeResponse(r);
        if (data.byteLength > maxPayload) throw new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `${data.byteLength} bytes`);
        msg.respond(data);
      } else {
        // headers take a few hundred bytes; leave them 4 KiB
        if (r.output.byteLength + 4096 > maxPayload) throw new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `${r.output.byteLength} bytes`);
        msg.respond(r.output, { headers: this.callHeaders(r) });
      }
    };
    try {
      send(response);
    } catch (err: unknown) {
      const size = response.output.byteLength + response.stderr.byteLength;
      if (!(err instanceof HayateError)) this.log.error({ err, invocationId: response.invocationId }, 'reply refused by NATS');
      this.log.warn({ invocationId: response.invocationId, fn, bytes: size, maxPayload }, 'answer too large for NATS');
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
      h.set(Header.invoker, this.id);
      msg.respond(EMPTY, { headers: h });
    };
    const timer = setInterval(() => send(Progress.beat), Math.max(50, every));
    return () => clearInterval(timer);
  }

  /**
   * Runs a request at most once per invocation id on this invoker, and a retry (attempt > 1) only when no
   * live peer holds its answer (see PeerAnswers).
   */
  private invokeOnce(request: InvokeRequest, fn: FunctionName, receivedMs: number): Promise<InvokeResponse> {
    const id = request.invocationId;
    const previous = this.recent.get(id);
    if (previous !== undefined) {
      this.log.info({ invocationId: id, attempt: request.attempt }, 'retry answered from recent results');
      return previous;
    }
    const lookup = request.attempt > 1;
    const answer = (async () => {
      if (lookup) {
        const peer = await this.peers.lookup(id, request.deadlineUnixMs > 0 ? request.deadlineUnixMs : Date.now() + this.deps.config.functionDefaults.timeoutMs);
        this.recent.hold(id);
        if (peer !== null) {
          this.log.info({ invocationId: id, attempt: request.attempt, holder: peer.invokerId }, 'retry answered by a peer');
          return peer;
        }
      }
      return this.execute(request, fn, receivedMs);
    })();
    this.recent.set(id, answer, !lookup);
    answer.then(
      (r) => {
        // an answer that says "try again elsewhere" must not be replayed to a retry
        if (r.errorCode !== '' && ERRORS[r.errorCode as keyof typeof ERRORS]?.retryable) this.recent.delete(request.invocationId);
      },
      // refused before running (unknown function, overloaded, expired): a retry may be answered differently
      () => this.recent.delete(request.invocationId),
    );
    return answer;
  }

  private runtimeOf(fn: FunctionName): FunctionRuntime {
    let runtime = this.runtimes.get(fn);
    if (runtime === undefined) {
      runtime = new FunctionRuntime(fn, this.log, (from, to) => this.deps.metrics?.transition(fn, from, to));
      this.runtimes.set(fn, runtime);
    }
    return runtime;
  }

  private async execute(request: InvokeRequest, fn: FunctionName, receivedMs: number): Promise<InvokeResponse> {
    // a pino child per invocation costs more than a warm run: made only when something is logged
    const log = (): Logger => this.log.child({ invocationId: request.invocationId, fn, attempt: request.attempt });
    const now = Date.now();
    if (request.deadlineUnixMs > 0 && now >= request.deadlineUnixMs) {
      log().warn({ deadlineUnixMs: request.deadlineUnixMs, lateMs: now - request.deadlineUnixMs }, 'dropped expired invocation');
      throw new HayateError('HAYATE_ERR_DEADLINE_EXCEEDED', `Cannot run ${fn} as its deadline passed ${now - request.deadlineUnixMs} ms before it reached an invoker`);
    }
    if (this.state !== InvokerState.running) throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot run ${fn} as invoker ${this.id} is ${this.state}`);
    checkArgsAndEnv(request.args, request.env);
    const spec = await this.specs.get(fn);
    if (spec === null) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot invoke function ${fn} as it is not deployed`);
    const d = this.deps.config.functionDefaults;
    const maxInput = spec.maxInputBytes || d.maxInputBytes;
    if (request.input.byteLength > maxInput) {
      throw new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot invoke ${fn} as its input is ${request.input.byteLength} bytes and max_input_bytes is ${maxInput}`);
    }
    if (this.pending >= this.deps.config.maxPending) {
      throw new HayateError('HAYATE_ERR_OVERLOADED', `Cannot run ${fn} as invoker ${this.id} already holds ${this.pending} invocations (max ${this.deps.config.maxPending})`);
    }
    // the count alone would let 1024 inputs of 6 MiB pile up: their bytes are bounded too (one at a time always fits)
    if (this.pendingBytes > 0 && this.pendingBytes + request.input.byteLength > this.deps.config.maxPendingBytes) {
      throw new HayateError('HAYATE_ERR_OVERLOADED', `Cannot run ${fn} as invoker ${this.id} already holds ${this.pendingBytes} bytes of input (max ${this.deps.config.maxPendingBytes})`);
    }
    const runtime = this.runtimeOf(fn);
    let timeoutMs = spec.timeoutMs || d.timeoutMs;
    if (request.timeoutMs > 0) timeoutMs = Math.min(timeoutMs, request.timeoutMs);
    if (request.deadlineUnixMs > 0) timeoutMs = Math.max(1, Math.min(timeoutMs, request.deadlineUnixMs - now));
    const exec: ExecutionRequest = {
      invocationId: parseInvocationId(request.invocationId),
      fn,
      spec,
      input: request.input,
      args: [...spec.args, ...request.args],
      env: { ...spec.env, ...request.env },
      timeoutMs,
      memoryMb: spec.memoryMb || d.memoryMb,
      maxOutputBytes: spec.maxOutputBytes || d.maxOutputBytes,
      maxStderrBytes: spec.maxStderrBytes || d.maxStderrBytes,
    };
    const gate = this.gateOf(fn, spec.maxConcurrency || this.deps.wasm.workers);
    this.pending += 1;
    this.pendingBytes += request.input.byteLength;
    runtime.inFlight += 1;
    const release = await gate.acquire();
    const startMs = performance.now();
    let result: ExecutionResult | null = null;
    try {
      runtime.digest = spec.digest;
      const executor = this.deps.router.choose(runtime, exec);
      this.executions.started(request.invocationId, request.attempt);
      result = await executor.invoke(exec, this.shutdown.signal);
      if (this.shutdown.signal.aborted && result.outcome.kind === 'timeout') {
        // cut short by the drain timeout, not by its own: let the caller run it elsewhere
        throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot finish ${fn} as invoker ${this.id} stopped before it ended`);
      }
      if (result.tier === Tier.wasm && runtime.state === TierState.cold) runtime.transition(TierState.wasm, 'first invocation compiled the module');
      this.invocations += 1;
      return this.responseOf(request, result, receivedMs, startMs, log);
    } finally {
      release();
      this.pending -= 1;
      this.pendingBytes -= request.input.byteLength;
      runtime.inFlight -= 1;
      const took = micros(startMs);
      if (result !== null) runtime.record(result.tier, took, result.outcome.kind !== 'exited' || result.outcome.exitCode !== 0);
      this.deps.router.observe(runtime, exec, result, took);
    }
  }

  private gateOf(fn: string, max: number): Gate {
    let gate = this.gates.get(fn);
    if (gate === undefined) {
      gate = new Gate(max);
      this.gates.set(fn, gate);
    }
    gate.max = max;
    return gate;
  }

  private responseOf(request: InvokeRequest, result: ExecutionResult, receivedMs: number, startMs: number, log: () => Logger): InvokeResponse {
    const o = result.outcome;
    let status: InvokeResponse['status'] = 'OK';
    let error: HayateError | null = null;
    let exitCode = 0;
    switch (o.kind) {
      case 'exited':
        exitCode = o.exitCode;
        if (o.exitCode !== 0) error = new HayateError('HAYATE_ERR_FUNCTION_ERROR', `Function ${request.function} exited with code ${o.exitCode}`);
        break;
      case 'trapped':
        exitCode = -1;
        error = new HayateError('HAYATE_ERR_FUNCTION_TRAP', `Function ${request.function} trapped: ${o.message}`);
        break;
      case 'timeout':
        exitCode = -1;
        error = new HayateError('HAYATE_ERR_TIMEOUT', `Function ${request.function} did not finish within its timeout`);
        break;
      case 'output-limit':
        exitCode = -1;
        error = new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Function ${request.function} wrote more than max_output_bytes to ${o.stream}`);
        break;
      case 'memory-limit':
        exitCode = -1;
        error = new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Function ${request.function} ran out of memory: ${o.message}`);
        break;
      default: {
        const never: never = o;
        throw new HayateError('HAYATE_ERR_INTERNAL', `Unknown outcome ${JSON.stringify(never)}`);
      }
    }
    if (error !== null) status = error.status;
    const totalUs = micros(receivedMs);
    if (this.log.isLevelEnabled('debug')) log().debug({ tier: result.tier, status, exitCode, totalUs }, 'invocation finished');
    const response: InvokeResponse = {
      invocationId: request.invocationId,
      status,
      exitCode,
      output: o.kind === 'output-limit' ? EMPTY : result.stdout,
      stderr: result.stderr,
      tier: result.tier,
      invokerId: this.id,
      coldStart: result.coldStart,
      timings: {
        queueUs: Math.max(0, Math.round((startMs - receivedMs) * 1000)),
        startupUs: result.startupUs,
        execUs: result.execUs,
        teardownUs: result.teardownUs,
        totalUs,
      },
      errorCode: error?.code ?? '',
      errorMessage: error?.message ?? '',
      attempt: request.attempt,
    };
    this.deps.metrics?.answered(request.function, response, true);
    return response;
  }

  private errorResponse(request: InvokeRequest | null, err: HayateError, receivedMs: number): InvokeResponse {
    if (err.code === 'HAYATE_ERR_INTERNAL') this.log.error({ err, invocationId: request?.invocationId }, 'invocation failed');
    const response: InvokeResponse = {
      invocationId: request?.invocationId ?? '',
      status: err.status,
      exitCode: -1,
      output: EMPTY,
      stderr: EMPTY,
      tier: Tier.wasm,
      invokerId: this.id,
      coldStart: false,
      timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: micros(receivedMs) },
      errorCode: err.code,
      errorMessage: err.message,
      attempt: request?.attempt ?? 0,
    };
    // label by function only for functions this invoker runs: refused names must not grow the label set
    const fn = request !== null && this.runtimes.has(request.function) ? request.function : '_other';
    this.deps.metrics?.answered(fn, response, false);
    return response;
  }

  private callHeaders(r: InvokeResponse): MsgHdrs {
    const h = natsHeaders();
    h.set(Header.status, r.status);
    h.set(Header.exitCode, String(r.exitCode));
    h.set(Header.tier, r.tier);
    h.set(Header.invocationId, r.invocationId);
    h.set(Header.invoker, r.invokerId);
    h.set(Header.coldStart, String(r.coldStart));
    if (r.status !== 'OK') {
      const code = r.errorCode !== '' && r.errorCode in ERRORS ? ERRORS[r.errorCode as keyof typeof ERRORS].httpStatus : 500;
      h.set(Header.errorCode, r.errorCode);
      h.set(Header.serviceError, r.errorMessage.replace(/[\r\n]+/g, ' '));
      h.set(Header.serviceErrorCode, String(code));
    }
    return h;
  }
}

