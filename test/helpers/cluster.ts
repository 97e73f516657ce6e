/**
 * A real embedded cluster (`hayate up`: nats-server, controller, invokers as OS processes) on free loopback
 * ports in a temp folder, with a NATS connection and an HTTP client for the test; stop it in after.always.
 */
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { HttpClient } from '../../services/cli/http-client';
import type { LocalCluster, LocalClusterState } from '../../services/common/local-cluster';
import { startLocalCluster } from '../../services/common/local-cluster';

export type ClusterState = LocalClusterState;

export interface Cluster extends LocalCluster {
  client: HttpClient;
  /** A NATS connection for the test (closed by stop). */
  nc: NatsConnection;
}

/**
 * @param options.invokers invoker processes @default 2
 * @param options.env extra environment of every process
 */
export async function startCluster(options: { invokers?: number; env?: Record<string, string>; args?: string[] } = {}): Promise<Cluster> {
  const local = await startLocalCluster(options);
  const nc = await connect({ servers: local.nats });
  return {
    ...local,
    nc,
    client: new HttpClient(local.http),
    async stop() {
      await nc.close().catch(() => undefined);
      await local.stop();
    },
  };
}
