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
  timeoutMs: number;
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
   * Runs one invocation. `signal` is the invocation's one AbortSignal (shutdown ∪ deadline); on abort the
   * executor stops the run (terminates the worker or kills the process) and resolves with `timeout`.
   * @throws HayateError when the function cannot be run at all (module missing, container unavailable)
   */
  invoke(request: ExecutionRequest, signal: AbortSignal): Promise<ExecutionResult>;
  /** Releases workers or containers. Idempotent. */
  close(): Promise<void>;
}
