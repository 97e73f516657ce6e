/**
 * The invoker's hot path under load (issue 12): answers of one event-loop turn leave in one socket write,
 * modules travel to each worker once, workers end preparations in shared memory. 400 raw calls of two
 * functions in flight at once each get their own answer, while calls of a spinning function cut at their
 * deadline terminate workers in the middle of the burst: no other call is lost or answered twice.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { headers as natsHeaders } from 'nats';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { buildFixture } from './helpers/c-fixtures';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, env: { HAYATE_CONTAINERS: 'off' } });
  const { client } = t.context.cluster;
  await client.deploy('upper', readFileSync(exampleWasm('upper')));
  await client.deploy('reverse', readFileSync(exampleWasm('reverse')));
  await client.deploy('spin', buildFixture('hostile', 'spin'), { timeout_ms: 300 });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test('400 concurrent raw calls each get their own answer while spinning calls terminate workers among them', async (t) => {
  const { nc } = t.context.cluster;
  const call = async (fn: string, input: string) => {
    const h = natsHeaders();
    h.set('Hayate-Invocation-Id', `batch-${fn}-${input.replace(/\W/g, '-')}`);
    const m = await nc.request(`hayate.v1.call.${fn}`, Buffer.from(input), { timeout: 60_000, headers: h });
    return { out: Buffer.from(m.data).toString(), status: m.headers?.get('Hayate-Status') ?? '' };
  };
  const spins = Array.from({ length: 4 }, (_, i) => call('spin', `spin ${i}`));
  const calls = Array.from({ length: 400 }, (_, i) =>
    i % 2 === 0 ? call('upper', `call ${i}`).then((r) => [r.out, `CALL ${i}`]) : call('reverse', `call ${i}\n`).then((r) => [r.out.trim(), [...`call ${i}`].reverse().join('')]),
  );
  const results = await Promise.all(calls);
  const wrong = results.filter(([got, want]) => got !== want);
  t.deepEqual(wrong, [], 'every call answered with its own output');
  t.deepEqual((await Promise.all(spins)).map((r) => r.status), ['TIMEOUT', 'TIMEOUT', 'TIMEOUT', 'TIMEOUT']);
});
