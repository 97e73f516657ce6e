/**
 * `hayate invoker`: config → logger → connect → start → signals.
 */
import { setFlagsFromString } from 'node:v8';
import { ActivationStore } from '../common/activations';
import { AsyncQueue } from '../common/async-queue';
import { loadConfig } from '../common/config';
import type { Config } from '../common/config';
import { createLogger } from '../common/logger';
import { ModuleWorker } from '../common/module-worker';
import { connectNats } from '../common/nats-connect';
import { onShutdownSignal } from '../common/signals';
import { FunctionStore } from '../common/store';
import { TriggerStats } from '../common/trigger-stats';
import { TriggerStore, triggerOptions } from '../common/trigger-store';
import { BundleStore } from '../common/bundle-store';
import { BundleCache } from './bundle-cache';
import { WasmExecutor } from './executors/wasm/wasm-executor';
import { Invoker } from './invoker';
import { InvokerMetrics } from './metrics';
import { serveMetrics } from './metrics-server';
import { ModuleCache } from './module-cache';
import { createRouter } from './router-factory';

/**
 * Runs one invoker until SIGINT/SIGTERM. Prints `hayate invoker ready id=<id>` on stdout once it serves
 * (followed by ` metrics=<url>` when the metrics listener is on).
 * @param overrides settings from CLI flags (win over the environment)
 */
export async function main(overrides: Partial<Config> = {}): Promise<void> {
  const config = loadConfig(process.env, overrides);
  const log = createLogger({ name: 'invoker', level: config.logLevel, base: { invokerId: config.invokerId } });
  // set once, before this process compiles any module; its threads (module, workers) share V8's flags
  if (config.wasmEagerCompile) setFlagsFromString('--no-wasm-lazy-compilation');
  const nc = await connectNats(config.natsUrl, `hayate-invoker-${config.invokerId}`, log);
  const store = await FunctionStore.open(nc, { replicas: config.replicas, domain: config.jsDomain });
  // modules are checked and compiled on a thread of their own: a large one would stall NATS beats and calls
  const compiler = new ModuleWorker();
  const modules = new ModuleCache(config.moduleCacheBytes, (digest) => store.getModule(digest), (bytes, memoryMb) => compiler.compile(bytes, memoryMb, config.inlineRuns));
  // bundles (up to 256 MiB) are read on a connection of their own: on the invoker's, their chunks would queue
  // ahead of invocations and progress beats, and callers would take a busy invoker for a dead one
  const bulk = await connectNats(config.natsUrl, `hayate-invoker-${config.invokerId}-bundles`, log);
  const bundleStore = await BundleStore.open(bulk, { replicas: config.replicas, domain: config.jsDomain });
  const bundles = new BundleCache({ maxBytes: config.bundleCacheBytes, fetch: (digest) => bundleStore.read(digest), prefetch: config.prefetchModules, log: log.child({ component: 'bundles' }) });
  const wasm = new WasmExecutor(modules, config.workers, log, { heapMb: config.workerHeapMb, spares: config.spareWorkers, bundles, inline: config.inlineRuns });
  await wasm.start();
  const router = await createRouter({ config, log, wasm, bundles });
  const queue = await AsyncQueue.open(nc, { prefix: config.subjectPrefix, replicas: config.replicas, domain: config.jsDomain, ackWaitMs: config.asyncAckWaitMs, maxAttempts: config.asyncMaxAttempts });
  const activations = await ActivationStore.open(nc, { replicas: config.replicas, domain: config.jsDomain, ttlMs: config.activationTtlMs });
  const metrics = config.metricsPort >= 0 ? new InvokerMetrics({ invoker: config.invokerId, site: config.site }) : undefined;
  const triggers = { triggers: await TriggerStore.open(nc, triggerOptions(config)), functions: store, stats: await TriggerStats.open(nc, config.invokerId, { replicas: config.replicas, domain: config.jsDomain }) };
  const invoker = new Invoker({ nc, config, log, store, modules, bundles, router, queue, activations, metrics, triggers });
  metrics?.sample(() => {
    const s = invoker.status();
    return { pending: s.inFlight, workers: s.workers, moduleCacheBytes: s.moduleCacheBytes, inlineRuns: wasm.inline?.counts.runs ?? 0, inlineOverruns: wasm.inline?.counts.overruns ?? 0 };
  });
  await invoker.start();
  const metricsServer = metrics === undefined ? null : await serveMetrics(metrics.registry, config.metricsHost, config.metricsPort, log);
  onShutdownSignal(log, async () => {
    await invoker.drain();
    await Promise.allSettled([nc.drain(), bulk.drain()]);
    await metricsServer?.close();
    await compiler.close();
  });
  process.stdout.write(`hayate invoker ready id=${config.invokerId}${metricsServer === null ? '' : ` metrics=${metricsServer.url}`}\n`);
}
