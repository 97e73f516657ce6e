import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { Logger } from './logger';

/**
 * Connects to NATS with hayate's reconnect policy: retry forever, quickly, so that a restarted server or a
 * cluster failover costs well under a second. Logs every status change of the connection.
 * @param url one or more server URLs, comma-separated
 * @param name connection name shown by `nats server report connections`
 */
export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: url.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  });
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'pingTimer') continue;
      log.info({ type: s.type, data: typeof s.data === 'string' ? s.data : undefined }, 'nats status');
    }
  })();
  log.info({ server: nc.getServer() }, 'nats connected');
  return nc;
}
