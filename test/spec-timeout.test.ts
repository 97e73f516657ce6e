/**
 * The controller and the CLI wait as long as the function's deployed timeout_ms (issue 11, finding 7):
 * a function deployed with timeout_ms=30000 that sleeps 16 s (past the 10 s default plus 5 s of grace)
 * answers 200 over HTTP and through `hayate invoke`; `--timeout-ms` ends a call sooner.
 */
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { buildFixture } from './helpers/c-fixtures';
import { runCli } from './helpers/cli';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, args: ['--workers', '2'] });
  await t.context.cluster.client.deploy('nap', buildFixture('hostile', 'nap'), { timeout_ms: 30_000, arg: '16000' });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test.serial('a call longer than the default timeout succeeds over HTTP and the CLI when the spec timeout allows it', async (t) => {
  const { client, http } = t.context.cluster;
  const [viaHttp, viaCli] = await Promise.all([client.invoke('nap', Buffer.alloc(0)), runCli(['invoke', 'nap', '--url', http])]);
  t.is(viaHttp.status, 200, JSON.stringify(viaHttp.error));
  t.is(viaHttp.body.toString(), 'slept\n');
  t.is(viaCli.code, 0, viaCli.stderr);
  t.is(viaCli.stdout, 'slept\n');
});

test.serial('hayate invoke --timeout-ms ends a call sooner than the spec timeout with TIMEOUT', async (t) => {
  const r = await runCli(['invoke', 'nap', '--timeout-ms', '500', '--url', t.context.cluster.http]);
  t.is(r.code, 1);
  t.regex(r.stderr, /HAYATE_ERR_TIMEOUT/);
});
