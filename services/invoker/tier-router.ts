/**
 * The seam between the invocation path and the tiers (SPEC §3). A `TierRouter` owns the tiers of an
 * invoker, chooses which one serves each call, and is the one writer of a function's tier state
 * (`FunctionRuntime.state`). The invocation path sees tiers only as `Executor`s handed out by the router.
 */
import type { FunctionSpec } from '../common/codec';
import type { ExecutionRequest, ExecutionResult, Executor } from './executor';
import type { FunctionRuntime } from './function-runtime';

/** Chooses the tier of each invocation. `hybrid-router.ts` with both tiers, `wasm-only-router.ts` without Docker. */
export interface TierRouter {
  /** Runs the node can serve at once: the default `max_concurrency` of a function and the async slots. */
  readonly capacity: number;
  /**
   * The executor that should serve this invocation of `runtime`'s function.
   * @throws HayateError HAYATE_ERR_CONTAINER_UNAVAILABLE when the function needs a tier this node lacks
   */
  choose(runtime: FunctionRuntime, request: ExecutionRequest): Executor;
  /**
   * Told after each invocation (`result` null when the executor threw), to learn latencies and move tiers.
   * @param us the invocation's time inside the invoker, as recorded in the function's status
   */
  observe(runtime: FunctionRuntime, request: ExecutionRequest, result: ExecutionResult | null, us: number): void;
  /** Forgets a function's tier resources and moves it to `cold` (redeploy, delete). */
  reset(runtime: FunctionRuntime, reason: string): Promise<void>;
  /** Whether a container tier is available, and why not. */
  containerTier(): { available: boolean; reason: string };
  /** Closes every tier the router owns. Idempotent. */
  close(): Promise<void>;
}

/** What the hybrid policy needs of a container tier, beyond running calls. `ContainerExecutor` implements it. */
export interface ContainerTier extends Executor {
  /** Whether a warm container of this spec's version is ready now (never starts one). */
  isReady(spec: FunctionSpec): boolean;
  /**
   * Starts the warm container of `spec` (or waits for the one starting).
   * @throws HayateError HAYATE_ERR_CONTAINER_UNAVAILABLE when it cannot start
   */
  warm(spec: FunctionSpec): Promise<unknown>;
  /** Removes the container of `fn`. */
  remove(fn: string, reason: string): Promise<void>;
  /** Functions whose container has been idle longer than `idleMs`. */
  idle(idleMs: number): string[];
}

/** The WASM tier as the routers see it: an executor with a fixed number of workers. */
export interface WasmTier extends Executor {
  readonly workers: number;
}
