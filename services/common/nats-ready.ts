/**
 * Waiting for a nats-server we started (`hayate up`, a local cluster, an edge site's leaf) to serve.
 */
import type { ChildProcess } from 'node:child_process';
import { connect } from 'nats';
import { HayateError } from './errors';
import { retry } from './retry';

/** The server to wait for. */
export interface NatsServerToWaitFor {
  /** Names it in messages ("NATS server hayate-1"). */
  label: string;
  /** Its process, or null once gone: an exit ends the wait at once. */
  child: () => ChildProcess | null;
  /** Client URL. */
  url: string;
  /** HTTP monitoring port: when given, `/healthz` must say ok first (JetStream current in a cluster). */
  monitorPort?: number;
  /** JetStream domain that must answer through it (the hub's, from a leaf). @default the server's own */
  domain?: string;
  /** Its log, named when it exits. */
  logFile: string;
  timeoutMs: number;
}

/**
 * Resolves once the server is ready: `/healthz` ok (when it has a monitoring port) and JetStream answering
 * through a client connection.
 * @throws HayateError HAYATE_ERR_UNAVAILABLE when it exits first or is not ready within `timeoutMs`
 */
export function waitNatsReady(s: NatsServerToWaitFor): Promise<void> {
  return retry(
    async () => {
      const child = s.child();
      if (child === null || child.exitCode !== null) throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot start ${s.label}: it exited (see ${s.logFile})`);
      if (s.monitorPort !== undefined) {
        const res = await fetch(`http://127.0.0.1:${s.monitorPort}/healthz`);
        if (!res.ok) throw new Error(`healthz ${res.status}: ${(await res.text()).slice(0, 200)}`);
      }
      const nc = await connect({ servers: s.url, timeout: 1000 });
      try {
        await (await nc.jetstreamManager({ ...(s.domain ? { domain: s.domain } : {}), timeout: 2000 })).getAccountInfo();
      } finally {
        await nc.close();
      }
    },
    {
      patienceMs: s.timeoutMs,
      backoff: { initialMs: 100 },
      // our own errors say the process exited: no point waiting longer
      retryOn: (err) => !(err instanceof HayateError),
      exhausted: (err) => new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot start ${s.label}: not ready within ${s.timeoutMs} ms (${err instanceof Error ? err.message : String(err)})`, { cause: err }),
    },
  );
}
