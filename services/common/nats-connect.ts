import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { Logger } from './logger';

/** Servers and the user/password given in their URLs (`nats://user:password@host:4222`). */
export interface NatsServers {
  servers: string[];
  user?: string;
  pass?: string;
}

/**
 * Splits a comma-separated list of server URLs and takes credentials out of them: nats.js does not send a
 * URL's user info itself, so a server that requires a user (deploy/nats/accounts.conf) would refuse us.
 */
export function parseNatsUrl(url: string): NatsServers {
  const out: NatsServers = { servers: [] };
  for (const raw of url.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    let parsed: URL | null = null;
    try {
      parsed = raw.includes('://') ? new URL(raw) : null;
    } catch {
      parsed = null;
    }
    if (parsed === null || parsed.username === '') {
      out.servers.push(raw);
      continue;
    }
    out.user ??= decodeURIComponent(parsed.username);
    if (parsed.password !== '') out.pass ??= decodeURIComponent(parsed.password);
    parsed.username = '';
    parsed.password = '';
    out.servers.push(parsed.toString().replace(/\/$/, ''));
  }
  return out;
}

/**
 * Connects to NATS with hayate's reconnect policy: retry forever, quickly, so that a restarted server or a
 * cluster failover costs well under a second. Logs every status change of the connection.
 * @param url one or more server URLs, comma-separated; `nats://user:password@host:port` authenticates
 * @param name connection name shown by `nats server report connections`
 */
export async function connectNats(url: string, name: string, log: Logger): Promise<NatsConnection> {
  const nc = await connect({
    ...parseNatsUrl(url),
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
