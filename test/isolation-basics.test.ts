/**
 * One invoker, two workers: a long function must not hold up a short one, and the CLI passes exit codes.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { runCli } from './helpers/cli';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, args: ['--workers', '2'] });
  const { client } = t.context.cluster;
  await client.deploy('sleep', readFileSync(exampleWasm('sleep')));
  await client.deploy('upper', readFileSync(exampleWasm('upper')));
  await client.deploy('env-echo', readFileSync(exampleWasm('env-echo')));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test('invoker answers a 1 ms call before a 2 s call finishes when both run on the same invoker', async (t) => {
  const { nc } = t.context.cluster;
  await nc.request('hayate.v1.call.upper', Buffer.from('warm'), { timeout: 10_000 });
  const order: string[] = [];
  const slow = nc.request('hayate.v1.call.sleep', Buffer.from(''), { timeout: 10_000, headers: argHeader('2000') }).then((m) => {
    order.push('slow');
    return Buffer.from(m.data).toString();
  });
  await sleep(100);
  const fast = await nc.request('hayate.v1.call.upper', Buffer.from('quick'), { timeout: 10_000 });
  order.push('fast');
  t.is(Buffer.from(fast.data).toString(), 'QUICK');
  t.is(await slow, 'slept\n');
  t.deepEqual(order, ['fast', 'slow']);
});

test('hayate invoke exits with the function exit code and prints its stderr when the function fails', async (t) => {
  const { cluster } = t.context;
  await cluster.client.deploy('exit3', readFileSync(exampleWasm('env-echo')), { env: ['EXIT_CODE=3'] });
  const e = await runCli(['invoke', 'exit3', '--url', cluster.http], 'input');
  t.is(e.code, 3);
  t.is(e.stdout, '');
  t.regex(e.stderr, /stderr-line/);
  t.regex(e.stderr, /HAYATE_ERR_FUNCTION_ERROR/);
});

test('hayate invoke writes the function stdout and exits 0 when it succeeds', async (t) => {
  const r = await runCli(['invoke', 'upper', '--url', t.context.cluster.http], 'piped');
  t.is(r.code, 0);
  t.is(r.stdout, 'PIPED');
});

test('hayate ls and get print deployed functions when asked for JSON', async (t) => {
  const { cluster } = t.context;
  const ls = JSON.parse((await runCli(['ls', '--json', '--url', cluster.http])).stdout) as { functions: { name: string }[] };
  t.true(ls.functions.some((f) => f.name === 'upper'));
  const get = JSON.parse((await runCli(['get', 'upper', '--url', cluster.http])).stdout) as { name: string; digest: string };
  t.is(get.name, 'upper');
  t.regex(get.digest, /^[0-9a-f]{64}$/);
});

test('every CLI verb prints help when given --help', async (t) => {
  for (const verb of ['up', 'controller', 'invoker', 'deploy', 'invoke', 'ls', 'get', 'rm', 'status', 'activation']) {
    const { stdout } = await runCli([verb, '--help']);
    t.regex(stdout, new RegExp(`^Usage: hayate ${verb}`), verb);
  }
});

function argHeader(value: string) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { headers } = require('nats') as typeof import('nats');
  const h = headers();
  h.append('Hayate-Arg', value);
  return h;
}
