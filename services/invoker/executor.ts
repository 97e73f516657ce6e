/**
 * The one seam between the invoker's NATS side and the tiers that run functions. `executors/wasm` and
 * `executors/container` implement it; the tier policy picks which one serves a request.
 */
import type { FunctionSpec, Tier } from '../common/codec';
import type { FunctionName, InvocationId } from '../common/names';

/** One invocation as an executor sees it: spec limits already resolved. */
export interface ExecutionRequest {
  invocationId: InvocationId;
  fn: FunctionName;
  spec: FunctionSpec;
  input: Uint8Array;
  /** argv[1..]: the spec's args then the request's. */
  args: readonly string[];
  /** The spec's env overlaid with the request's. */
  env: Readonly<Record<string, string>>;
  /**
   * The invocation's one deadline (epoch ms): the earlier of the caller's deadline and acceptance + the
   * function's timeout. The signal given with the request aborts at this time; it is here only for what
   * runs beyond this process and needs a number (the container's watchdog).
   */
  deadlineUnixMs: number;
  memoryMb: number;
  maxOutputBytes: number;
  maxStderrBytes: number;
}

/** How a run ended, when it ran at all. Failures to run at all are thrown as `HayateError`. */
export type ExecutionOutcome =
  | { kind: 'exited'; exitCode: number }
  | { kind: 'trapped'; message: string }
  | { kind: 'timeout' }
  | { kind: 'output-limit'; stream: 'stdout' }
  | { kind: 'memory-limit'; message: string };

/** The result of one run, with the seed's three step durations. */
export interface ExecutionResult {
  tier: Tier;
  outcome: ExecutionOutcome;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The executor had to fetch/compile or start something first. */
  coldStart: boolean;
  startupUs: number;
  execUs: number;
  teardownUs: number;
}

/** A tier that runs functions. */
export interface Executor {
  readonly tier: Tier;
  /**
   * Runs one invocation. `signal` is the invocation's one signal (shutdown ∪ deadline, made by
   * `invocationSignal`); on abort the executor stops the run (terminates the worker or kills the process)
   * and resolves with `timeout`. Executors keep no timers of their own, and ask for the AbortSignal itself
   * (`abortSignalOf`) only when they have something to stop.
   * @throws HayateError when the function cannot be run at all (module missing, container unavailable)
   */
  invoke(request: ExecutionRequest, signal: CallSignal): Promise<ExecutionResult>;
  /** Releases workers or containers. Idempotent. */
  close(): Promise<void>;
}

/**
 * The `cause` of the error an executor throws when the worker running a call died under it (heap exhausted,
 * crashed): the runner counts such deaths per function to quarantine it (quarantine.ts).
 */
export const WORKER_DIED = 'worker-died';

/** Whether `err` says the worker running the call died under it. */
export function isWorkerDeath(err: unknown): boolean {
  return err instanceof Error && err.cause === WORKER_DIED;
}

/**
 * A signal whose AbortSignal is made the first time something asks for it. Node's AbortController costs
 * ≈3–5 µs and its timer and shutdown listener as much again, per call; a call that runs on the event-loop
 * thread past a free gate ends before anything could wait on it.
 */
export interface LazySignal {
  /** Whether it has aborted; asks for no AbortSignal. */
  readonly aborted: boolean;
  /** The AbortSignal, made on first use. */
  readonly signal: AbortSignal;
}

/** What the gate, the memory budget and the executors take: an AbortSignal, or one made on first use. */
export type CallSignal = AbortSignal | LazySignal;

/** The AbortSignal of `s` (made now when `s` is lazy); none of none. */
export function abortSignalOf(s: CallSignal): AbortSignal;
export function abortSignalOf(s: CallSignal | undefined): AbortSignal | undefined;
export function abortSignalOf(s: CallSignal | undefined): AbortSignal | undefined {
  return s === undefined || s instanceof AbortSignal ? s : s.signal;
}

/** The one signal of an invocation, and the call that releases its timer and listener when it ends. */
export interface InvocationSignal extends LazySignal {
  /** Clears the deadline's timer and stops following shutdown. Idempotent. */
  dispose(): void;
}

/**
 * The one signal of an invocation: aborts at `deadlineUnixMs` or when `shutdown` aborts, whichever is first.
 * Made once, when the invocation is accepted, and passed down to the gate and the executor; its AbortSignal,
 * timer and listener exist only once one of them asks for it (`signal`), and until then `aborted` reads the
 * clock and `shutdown`.
 * Not `AbortSignal.any([shutdown, AbortSignal.timeout(ms)])`: on Node 20 the garbage collector may collect
 * that composite signal before its timeout fires, and a call waiting on it would wait forever (reproduced
 * with --expose-gc: a gate waiter never released).
 */
export function invocationSignal(deadlineUnixMs: number, shutdown?: AbortSignal): InvocationSignal {
  return new Deadline(deadlineUnixMs, shutdown);
}

class Deadline implements InvocationSignal {
  private controller: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private disposed = false;
  private readonly onShutdown = (): void => this.controller?.abort(this.shutdown?.reason);

  constructor(
    private readonly deadlineUnixMs: number,
    private readonly shutdown: AbortSignal | undefined,
  ) {}

  get aborted(): boolean {
    if (this.controller !== null) return this.controller.signal.aborted;
    return this.shutdown?.aborted === true || Date.now() >= this.deadlineUnixMs;
  }

  get signal(): AbortSignal {
    if (this.controller !== null) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const expire = (): void => controller.abort(new DOMException('The invocation deadline passed', 'TimeoutError'));
    if (this.shutdown?.aborted === true) this.onShutdown();
    else if (Date.now() >= this.deadlineUnixMs) expire();
    // once disposed, nothing is waited on any more: no timer, no listener to leave behind
    else if (!this.disposed) {
      this.timer = setTimeout(expire, Math.ceil(this.deadlineUnixMs - Date.now()));
      this.shutdown?.addEventListener('abort', this.onShutdown, { once: true });
    }
    return controller.signal;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.controller !== null) this.shutdown?.removeEventListener('abort', this.onShutdown);
  }
}
