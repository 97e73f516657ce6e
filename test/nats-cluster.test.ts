import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { connect } from 'nats';
import { NatsCluster } from '../services/common/nats-cluster';
import { withNatsRetry } from '../services/common/nats-retry';
import { alive } from './helpers/process';

const dir = mkdtempSync(join(tmpdir(), 'hayate-nats-cluster-'));
let cluster: NatsCluster | null = null;

test.after.always(async () => {
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('NatsCluster keeps replicated KV data readable and writable when one server is killed and restarted', async (t) => {
  cluster = await NatsCluster.start({ dir, size: 3, name: 'unit' });
  t.is(cluster.urls.length, 3);
  t.is(new Set(cluster.servers.map((s) => s.clientPort)).size, 3);
  const nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  try {
    const kv = await nc.jetstream().views.kv('unit', { replicas: 3 });
    await kv.put('k', new TextEncoder().encode('before'));
    const pid = cluster.servers[0]!.child?.pid;
    await cluster.kill(0);
    t.is(cluster.servers[0]!.child, null);
    t.false(pid !== undefined && alive(pid));
    // the killed server may have led the bucket's stream: the put waits out the election
    await withNatsRetry('put while one server is down', () => kv.put('k', new TextEncoder().encode('while one is down')), 30_000);
    await cluster.restart(0);
    t.not(cluster.servers[0]!.child, null);
    const only = await connect({ servers: cluster.servers[0]!.url });
    try {
      const again = await only.jetstream().views.kv('unit');
      t.is(new TextDecoder().decode((await again.get('k'))?.value), 'while one is down');
    } finally {
      await only.close();
    }
  } finally {
    await nc.close();
  }
});
