/**
 * `hayate invoker`: config → logger → connect → start → signals.
 */
import { loadConfig } from '../common/config';
import type { Config } from '../common/config';
import { createLogger } from '../common/logger';
import { connectNats } from '../common/nats-connect';
import { onShutdownSignal } from '../common/signals';
import { FunctionStore } from '../common/store';
import { WasmExecutor } from './executors/wasm/wasm-executor';
import { Invoker } from './invoker';
import { ModuleCache } from './module-cache';
import { createRouter } from './router-factory';

/**
 * Runs one invoker until SIGINT/SIGTERM. Prints `hayate invoker ready id=<id>` on stdout once it serves.
 * @param overrides settings from CLI flags (win over the environment)
 */
export async function main(overrides: Partial<Config> = {}): Promise<void> {
  const config = loadConfig(process.env, overrides);
  const log = createLogger({ name: 'invoker', level: config.logLevel, base: { invokerId: config.invokerId } });
  const nc = await connectNats(config.natsUrl, `hayate-invoker-${config.invokerId}`, log);
  const store = await FunctionStore.open(nc, { replicas: config.replicas, domain: config.jsDomain });
  const modules = new ModuleCache(config.moduleCacheBytes, (digest) => store.getModule(digest));
  const wasm = new WasmExecutor(modules, config.workers, log);
  await wasm.start();
  const router = await createRouter({ config, log, wasm });
  const invoker = new Invoker({ nc, config, log, store, modules, wasm, router });
  await invoker.start();
  onShutdownSignal(log, async () => {
    await invoker.drain();
    await nc.drain();
  });
  process.stdout.write(`hayate invoker ready id=${config.invokerId}\n`);
}
