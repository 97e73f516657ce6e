/**
 * Picks the tier router for this invoker: hybrid (WASM + warm containers) when a Docker engine answers,
 * WASM only otherwise, saying why once in the log and in status (SPEC §1: Docker is optional). The router
 * owns both tiers from here on and closes them.
 */
import { join } from 'node:path';
import type { Config } from '../common/config';
import type { Logger } from '../common/logger';
import type { BundleCache } from './bundle-cache';
import { ContainerFiles } from './executors/container/container-files';
import { ContainerExecutor, DEFAULT_WATCHDOG, probeDocker } from './executors/container/container-executor';
import { HybridRouter } from './hybrid-router';
import type { TierRouter, WasmTier } from './tier-router';
import { WasmOnlyRouter } from './wasm-only-router';

export async function createRouter(deps: { config: Readonly<Config>; log: Logger; wasm: WasmTier; bundles?: BundleCache }): Promise<TierRouter> {
  const { config, log, wasm } = deps;
  if (!config.containers) return wasmOnly(wasm, log, 'container tier disabled (HAYATE_CONTAINERS=off)');
  const watchdogPath = config.watchdogPath || DEFAULT_WATCHDOG;
  const probe = await probeDocker(config.dockerSocket, watchdogPath);
  if (!('docker' in probe)) return wasmOnly(wasm, log, probe.reason);
  const containers = new ContainerExecutor(probe.docker, { invokerId: config.invokerId, watchdogPath, runtimeDir: join(config.runtimeDir, 'c'), imagePrefixes: config.imagePrefixes, cpuset: config.containerCpuset }, log.child({ component: 'containers' }), deps.bundles === undefined ? undefined : new ContainerFiles(deps.bundles, config.runtimeDir));
  await containers.removeOrphans();
  log.info({ docker: config.dockerSocket }, 'container tier available');
  return new HybridRouter(wasm, containers, { hotCalls: config.hotCalls, hotWindowMs: config.hotWindowMs, minWasmUs: config.hotMinWasmUs, containerIdleMs: config.containerIdleMs, retryAfterMs: config.containerRetryMs }, log.child({ component: 'tier-router' }));
}

function wasmOnly(wasm: WasmTier, log: Logger, reason: string): TierRouter {
  log.warn({ reason }, 'container tier unavailable: running WASM only');
  return new WasmOnlyRouter(wasm, reason);
}
