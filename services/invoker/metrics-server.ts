/**
 * The invoker's only HTTP listener: `GET /metrics` (Prometheus text) and `GET /healthz`. Off unless
 * `--metrics-port` / `HAYATE_METRICS_PORT` is set; loopback unless `HAYATE_METRICS_HOST` says otherwise.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger';

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** `http://host:port` */
  url: string;
  /** Stops listening. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serves `registry` on `host:port` (0 = any free port).
 * @throws Error when the address cannot be bound (in use, not local)
 */
export function serveMetrics(registry: Registry, host: string, port: number, log: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
        (err: unknown) => {
          log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
      return;
    }
    res.writeHead(404).end();
  });
  // a scrape must never keep a draining invoker alive
  server.keepAliveTimeout = 5000;
  let closing: Promise<void> | null = null;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      log.info({ url }, 'metrics listening');
      resolve({
        url,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
