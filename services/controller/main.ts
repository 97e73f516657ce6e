/**
 * `hayate controller`: config → logger → connect → start → signals.
 */
import { ActivationStore } from '../common/activations';
import { AsyncQueue } from '../common/async-queue';
import { loadConfig } from '../common/config';
import type { Config } from '../common/config';
import { HayateError } from '../common/errors';
import { createLogger } from '../common/logger';
import { connectNats } from '../common/nats-connect';
import { onShutdownSignal } from '../common/signals';
import { FunctionStore } from '../common/store';
import { buildServer } from './server';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/**
 * Runs the controller until SIGINT/SIGTERM. Prints `hayate controller ready http=<url>` on stdout once it
 * listens.
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when asked to listen beyond loopback without API keys
 *   and without `insecure`
 */
export async function main(overrides: Partial<Config> = {}): Promise<void> {
  const config = loadConfig(process.env, overrides);
  if (!LOOPBACK.test(config.httpHost) && config.apiKeys.length === 0 && !config.insecure) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Refusing to listen on ${config.httpHost} without API keys: set HAYATE_API_KEYS, or pass --insecure`);
  }
  const log = createLogger({ name: 'controller', level: config.logLevel });
  const nc = await connectNats(config.natsUrl, 'hayate-controller', log);
  const store = await FunctionStore.open(nc, { replicas: config.replicas, domain: config.jsDomain });
  const queue = await AsyncQueue.open(nc, { prefix: config.subjectPrefix, replicas: config.replicas, domain: config.jsDomain, ackWaitMs: config.asyncAckWaitMs, maxAttempts: config.asyncMaxAttempts });
  const activations = await ActivationStore.open(nc, { replicas: config.replicas, domain: config.jsDomain, ttlMs: config.activationTtlMs });
  const { app, client } = buildServer({ nc, store, config, log, queue, activations });
  const address = await app.listen({ host: config.httpHost, port: config.httpPort });
  log.info({ address, auth: config.apiKeys.length > 0 }, 'controller listening');
  onShutdownSignal(log, async () => {
    // stop intake, let in-flight requests finish (fastify waits for them), then release NATS. A keep-alive
    // connection that goes idle after close() began would hold the server open until its keep-alive timeout
    // (72 s): close such connections as they go idle.
    const closing = app.close();
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    await closing.finally(() => clearInterval(sweep));
    client.close();
    await nc.drain();
  });
  process.stdout.write(`hayate controller ready http=${address}\n`);
}
