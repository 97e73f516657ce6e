/**
 * The invocation runner: everything between a decoded request and its answer, whoever brought it (the NATS
 * endpoint, the async consumer). Once-only per invocation id, limits, the invocation's one deadline and
 * AbortSignal, the per-function gate, the tier router's choice, the run, and the answer.
 */
import { setMaxListeners } from 'node:events';
import type { FunctionState, InvokeRequest, InvokeResponse } from '../common/codec';
import type { Config } from '../common/config';
import { HayateError, isRetryable, toHayateError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { FunctionName } from '../common/names';
import { checkArgsAndEnv, parseFunctionName, parseInvocationId } from '../common/names';
import type { ExecutionLog } from './execution-log';
import type { ExecutionRequest, ExecutionResult } from './executor';
import { invocationSignal, isWorkerDeath } from './executor';
import { Quarantine } from './quarantine';
import { MemoryBudget } from './memory-budget';
import { FunctionRuntime } from './function-runtime';
import { Gate } from './gate';
import type { LogPublisher } from './log-publisher';
import type { InvokerObserver } from './metrics';
import type { PeerAnswers } from './peer-answers';
import type { Recent, RecentResults } from './recent-results';
import { invocationKey } from './recent-results';
import { answerOf, microsSince, refusalOf } from './responses';
import { inputPatienceMs, patienceMs } from '../common/invocation-client';

/** Beyond a caller's patience and a peer lookup's wait, how long a retry may still be on its way. */
const RETRY_SLACK_MS = 1000;
import type { SpecCache } from './spec-cache';
import type { TierRouter } from './tier-router';

export interface RunnerDeps {
  config: Readonly<Config>;
  log: Logger;
  specs: SpecCache;
  router: TierRouter;
  recent: RecentResults;
  peers: PeerAnswers;
  executions: ExecutionLog;
  metrics?: InvokerObserver;
  /** Told of every answer of a run (`hayate.v1.logs.<fn>`). @default none */
  logs?: Pick<LogPublisher, 'published'>;
}

const MiB = 1024 * 1024;

export class InvocationRunner {
  private readonly runtimes = new Map<string, FunctionRuntime>();
  private readonly memory: MemoryBudget;
  private readonly quarantine = new Quarantine();
  private readonly gates = new Map<string, Gate>();
  /** Aborted when a drain runs out of time: every invocation's signal follows it. */
  private readonly shutdown = new AbortController();
  private accepting = true;
  /** Invocations accepted and not answered yet, and their input bytes. */
  private pending = 0;
  private pendingBytes = 0;
  private invocations = 0;

  constructor(private readonly deps: RunnerDeps) {
    this.memory = new MemoryBudget(deps.config.memoryBudgetBytes);
    // every invocation in flight follows it (one listener each, removed when it ends): not a leak
    setMaxListeners(0, this.shutdown.signal);
  }

  /** Host memory claimed by running invocations (see memory-budget.ts). */
  get memoryInUse(): number {
    return this.memory.inUse;
  }

  /** Invocations accepted and not yet answered. */
  get inFlight(): number {
    return this.pending;
  }

  /** Invocations run to an answer since start. */
  get ran(): number {
    return this.invocations;
  }

  /** Per-function tier state and figures, by name. */
  snapshots(): FunctionState[] {
    return [...this.runtimes.values()].map((r) => r.snapshot()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A function was redeployed or removed: its quarantine, if any, is lifted. */
  redeployed(fn: string, version: number): void {
    this.quarantine.forget(fn, version);
  }

  /** The runtime of `fn` if it has run here. */
  runtimeOf(fn: string): FunctionRuntime | undefined {
    return this.runtimes.get(fn);
  }

  /** New invocations are refused with HAYATE_ERR_UNAVAILABLE from now on (drain). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Aborts every running invocation (the drain ran out of time). */
  abortAll(): void {
    this.shutdown.abort(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot finish as the invoker stopped'));
  }

  /**
   * Runs a request to its answer. Never rejects: refusals and failures become error answers.
   * @param receivedMs when the request reached this invoker (`performance.now()`)
   */
  async run(request: InvokeRequest, receivedMs: number): Promise<InvokeResponse> {
    try {
      const fn = parseFunctionName(request.function);
      parseInvocationId(request.invocationId);
      return await this.once(request, fn, receivedMs);
    } catch (e: unknown) {
      return this.refuse(request, toHayateError(e), receivedMs);
    }
  }

  /** The answer to a request refused before it reached `run` (malformed), counted like any other. */
  refuse(request: InvokeRequest | null, err: HayateError, receivedMs: number): InvokeResponse {
    if (err.code === 'HAYATE_ERR_INTERNAL') this.deps.log.error({ err, invocationId: request?.invocationId }, 'invocation failed');
    const response = refusalOf(request, err, this.deps.config.invokerId, receivedMs);
    // label by function only for functions this invoker runs: refused names must not grow the label set
    const fn = request !== null && this.runtimes.has(request.function) ? request.function : '_other';
    this.deps.metrics?.answered(fn, response, false);
    return response;
  }

  /**
   * Runs a request at most once per invocation id on this invoker, and a retry (attempt > 1) only when no
   * live peer holds its answer (see PeerAnswers).
   */
  private once(request: InvokeRequest, fn: FunctionName, receivedMs: number): Promise<InvokeResponse> {
    const { recent, peers, config, log } = this.deps;
    const id = request.invocationId;
    // an invocation is one function, one id and one request: an id reused with another function or another
    // request is another invocation, never answered with this one's output
    const key = invocationKey(fn, id);
    const previous = recent.get(key, request);
    if (previous !== undefined) {
      log.info({ invocationId: id, attempt: request.attempt }, 'retry answered from recent results');
      return previous.answer;
    }
    const lookup = request.attempt > 1;
    let entry: Recent | undefined;
    const answer = (async () => {
      if (lookup) {
        const peer = await peers.lookup(id, request, request.deadlineUnixMs > 0 ? request.deadlineUnixMs : Date.now() + config.functionDefaults.timeoutMs);
        entry?.hold();
        if (peer !== null) {
          log.info({ invocationId: id, attempt: request.attempt, holder: peer.invokerId }, 'retry answered by a peer');
          return peer;
        }
      }
      return this.execute(request, fn, receivedMs);
    })();
    // a retry may come until the caller's deadline; callers without one (raw calls) do not retry by themselves.
    // Once answered, a caller that missed the answer re-sends within its patience of silence, and the invoker
    // that gets the retry asks its peers for up to its lookup wait: past both (and a second of slack), no retry
    // of this invocation can ask any more, and its answer stops counting against the held-bytes bound
    const inputBytes = request.input.byteLength;
    const afterAnswerMs = patienceMs(config.deadAfterMs, inputBytes) + inputPatienceMs(inputBytes) + RETRY_SLACK_MS;
    const remembered = recent.set(key, answer, request, !lookup, request.deadlineUnixMs, afterAnswerMs);
    entry = remembered;
    answer.then(
      // an answer that says "try again elsewhere" must not be replayed to a retry
      (r) => (isRetryable(r.errorCode) ? remembered.forget() : undefined),
      // refused before running (unknown function, overloaded, expired): a retry may be answered differently
      () => remembered.forget(),
    );
    return answer;
  }

  private runtime(fn: FunctionName): FunctionRuntime {
    let runtime = this.runtimes.get(fn);
    if (runtime === undefined) {
      runtime = new FunctionRuntime(fn, this.deps.log, (from, to) => this.deps.metrics?.transition(fn, from, to));
      this.runtimes.set(fn, runtime);
    }
    return runtime;
  }

  private gate(fn: string, max: number): Gate {
    let gate = this.gates.get(fn);
    if (gate === undefined) {
      gate = new Gate(max);
      this.gates.set(fn, gate);
    }
    gate.max = max;
    return gate;
  }

  /**
   * Checks a request against the spec and the invoker's bounds, reserves its place among the pending
   * invocations (the caller gives it back), then builds what the executor gets: the spec's limits, args and
   * env, and the invocation's one deadline.
   * @throws HayateError for every refusal, with the value that failed (nothing is reserved then)
   */
  private async admit(request: InvokeRequest, fn: FunctionName, acceptedUnixMs: number): Promise<ExecutionRequest> {
    const { config, specs } = this.deps;
    const id = config.invokerId;
    if (request.deadlineUnixMs > 0 && acceptedUnixMs >= request.deadlineUnixMs) {
      const lateMs = acceptedUnixMs - request.deadlineUnixMs;
      this.deps.log.warn({ invocationId: request.invocationId, fn, deadlineUnixMs: request.deadlineUnixMs, lateMs }, 'dropped expired invocation');
      throw new HayateError('HAYATE_ERR_DEADLINE_EXCEEDED', `Cannot run ${fn} as its deadline passed ${lateMs} ms before it reached an invoker`);
    }
    if (!this.accepting) throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot run ${fn} as invoker ${id} is stopping`);
    checkArgsAndEnv(request.args, request.env);
    const spec = await specs.get(fn);
    if (spec === null) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot invoke function ${fn} as it is not deployed`);
    this.quarantine.check(fn, spec.version);
    const inputBytes = request.input.byteLength;
    if (inputBytes > spec.maxInputBytes) {
      throw new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot invoke ${fn} as its input is ${inputBytes} bytes and max_input_bytes is ${spec.maxInputBytes}`);
    }
    if (this.pending >= config.maxPending) {
      throw new HayateError('HAYATE_ERR_OVERLOADED', `Cannot run ${fn} as invoker ${id} already holds ${this.pending} invocations (max ${config.maxPending})`);
    }
    // the count alone would let 1024 inputs of 6 MiB pile up: their bytes are bounded too, with the answers
    // kept for retries (one at a time always fits)
    const held = this.pendingBytes + this.deps.recent.protectedBytes;
    if (held > 0 && held + inputBytes > config.maxPendingBytes) {
      throw new HayateError('HAYATE_ERR_OVERLOADED', `Cannot run ${fn} as invoker ${id} already holds ${held} bytes of input and answers kept for retries (max ${config.maxPendingBytes})`);
    }
    // reserved in the same synchronous step as the checks above: concurrent admissions cannot all pass them
    this.pending += 1;
    this.pendingBytes += inputBytes;
    const timeoutMs = request.timeoutMs > 0 ? Math.min(spec.timeoutMs, request.timeoutMs) : spec.timeoutMs;
    const own = acceptedUnixMs + timeoutMs;
    return {
      invocationId: parseInvocationId(request.invocationId),
      fn,
      spec,
      input: request.input,
      args: [...spec.args, ...request.args],
      env: { ...spec.env, ...request.env },
      deadlineUnixMs: request.deadlineUnixMs > 0 ? Math.min(own, request.deadlineUnixMs) : own,
      memoryMb: spec.memoryMb,
      maxOutputBytes: spec.maxOutputBytes,
      maxStderrBytes: spec.maxStderrBytes,
    };
  }

  private async execute(request: InvokeRequest, fn: FunctionName, receivedMs: number): Promise<InvokeResponse> {
    const { router, executions, config } = this.deps;
    const acceptedUnixMs = Math.round(Date.now() - (performance.now() - receivedMs));
    const exec = await this.admit(request, fn, acceptedUnixMs);
    // the one signal of this invocation: its deadline ∪ shutdown; the gate, the pool and the container obey it
    // (its AbortSignal made only if one of them has to wait or stop something)
    const signal = invocationSignal(exec.deadlineUnixMs, this.shutdown.signal);
    const runtime = this.runtime(fn);
    runtime.digest = exec.spec.digest;
    const inputBytes = request.input.byteLength;
    runtime.inFlight += 1;
    let release: (() => void) | null = null;
    let unclaim: (() => void) | null = null;
    let result: ExecutionResult | null = null;
    let startMs = receivedMs;
    const waitedTooLong = (): HayateError =>
      new HayateError('HAYATE_ERR_DEADLINE_EXCEEDED', `Cannot run ${fn} as its deadline passed after ${Math.round(performance.now() - receivedMs)} ms waiting for one of its max_concurrency slots or for host memory`);
    try {
      release = await this.gate(fn, exec.spec.maxConcurrency || router.capacity)
        .acquire(signal)
        .catch(() => {
          throw this.shutdown.signal.aborted ? new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot run ${fn} as invoker ${config.invokerId} stopped`) : waitedTooLong();
        });
      const claim = exec.memoryMb * MiB + exec.maxOutputBytes + exec.maxStderrBytes + inputBytes;
      unclaim = await this.memory.claim(claim, fn, signal).catch((err: unknown) => {
        throw err instanceof HayateError ? err : waitedTooLong();
      });
      startMs = performance.now();
      // given a place just as the deadline passed: it did not run, say so rather than a TIMEOUT of no run
      if (signal.aborted && !this.shutdown.signal.aborted) throw waitedTooLong();
      const executor = router.choose(runtime, exec);
      executions.started(request.invocationId, request.attempt);
      result = await executor.invoke(exec, signal);
      if (this.shutdown.signal.aborted && result.outcome.kind === 'timeout') {
        // cut short by the drain timeout, not by its own: let the caller run it elsewhere
        throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot finish ${fn} as invoker ${config.invokerId} stopped before it ended`);
      }
      this.invocations += 1;
      const response = answerOf(request, result, config.invokerId, receivedMs, startMs);
      if (this.deps.log.isLevelEnabled('debug')) {
        this.deps.log.debug({ invocationId: request.invocationId, fn, tier: result.tier, status: response.status, totalUs: response.timings.totalUs }, 'invocation finished');
      }
      this.deps.metrics?.answered(fn, response, true);
      this.deps.logs?.published(request, response);
      return response;
    } catch (err: unknown) {
      if (isWorkerDeath(err)) {
        const reason = this.quarantine.death(fn, exec.spec.version, err instanceof Error ? err.message : String(err));
        if (reason !== '') {
          runtime.lastError = reason;
          this.deps.log.error({ fn, version: exec.spec.version, reason }, 'function quarantined');
        }
      }
      throw err;
    } finally {
      signal.dispose();
      unclaim?.();
      release?.();
      this.pending -= 1;
      this.pendingBytes -= inputBytes;
      runtime.inFlight -= 1;
      if (release !== null) {
        const us = microsSince(startMs);
        if (result !== null) runtime.record(result.tier, us, result.outcome.kind !== 'exited' || result.outcome.exitCode !== 0);
        router.observe(runtime, exec, result, us);
      }
    }
  }
}
