/**
 * The tier router of an invoker without a container tier (no Docker engine, or disabled): every
 * invocation runs in WASM; `policy: container` functions are refused with a clear reason.
 */
import { Tier } from '../common/codec';
import { HayateError } from '../common/errors';
import type { ExecutionRequest, ExecutionResult, Executor } from './executor';
import type { FunctionRuntime } from './function-runtime';
import { TierState } from './function-runtime';
import type { TierRouter, WasmTier } from './tier-router';

export class WasmOnlyRouter implements TierRouter {
  /** @param reason why there is no container tier, shown in status */
  constructor(
    private readonly wasm: WasmTier,
    private readonly reason: string,
  ) {}

  get capacity(): number {
    return this.wasm.workers;
  }

  choose(_runtime: FunctionRuntime, request: ExecutionRequest): Executor {
    if (request.spec.policy === 'container') {
      throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot run ${request.fn} with policy container as this invoker has no container tier: ${this.reason}`);
    }
    return this.wasm;
  }

  observe(runtime: FunctionRuntime, _request: ExecutionRequest, result: ExecutionResult | null, _us: number): void {
    if (result?.tier === Tier.wasm) runtime.ranInWasm();
  }

  async reset(runtime: FunctionRuntime, reason: string): Promise<void> {
    runtime.transition(TierState.cold, reason);
  }

  containerTier(): { available: boolean; reason: string } {
    return { available: false, reason: this.reason };
  }

  close(): Promise<void> {
    return this.wasm.close();
  }
}
