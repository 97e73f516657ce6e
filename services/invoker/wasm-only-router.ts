/**
 * The tier router of an invoker without a container tier (no Docker engine, or disabled): every
 * invocation runs in WASM; `policy: container` functions are refused with a clear reason.
 */
import { HayateError } from '../common/errors';
import type { ExecutionRequest, Executor } from './executor';
import type { FunctionRuntime } from './function-runtime';
import { TierState } from './function-runtime';
import type { TierRouter } from './invoker';

export class WasmOnlyRouter implements TierRouter {
  /** @param reason why there is no container tier, shown in status */
  constructor(
    private readonly wasm: Executor,
    private readonly reason: string,
  ) {}

  choose(_runtime: FunctionRuntime, request: ExecutionRequest): Executor {
    if (request.spec.policy === 'container') {
      throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot run ${request.fn} with policy container as this invoker has no container tier: ${this.reason}`);
    }
    return this.wasm;
  }

  observe(): void {}

  async reset(runtime: FunctionRuntime, reason: string): Promise<void> {
    runtime.transition(TierState.cold, reason);
  }

  containerTier(): { available: boolean; reason: string } {
    return { available: false, reason: this.reason };
  }

  async close(): Promise<void> {}
}
