/**
 * Picks the tier router for this invoker: hybrid (WASM + warm containers) when a Docker engine answers,
 * WASM only otherwise, saying why once in the log and in status.
 */
import type { Config } from '../common/config';
import type { Logger } from '../common/logger';
import type { Executor } from './executor';
import type { TierRouter } from './invoker';
import { WasmOnlyRouter } from './wasm-only-router';

export async function createRouter(deps: { config: Readonly<Config>; log: Logger; wasm: Executor }): Promise<TierRouter> {
  const reason = 'container tier not built yet';
  deps.log.info({ reason }, 'container tier unavailable: running WASM only');
  return new WasmOnlyRouter(deps.wasm, reason);
}
