/**
 * The invoker-wide host memory budget (issue 11, finding 2): runs claim memory_mb + max_output_bytes +
 * max_stderr_bytes + input; a call that would pass the budget waits a little, then is refused OVERLOADED.
 */
import { readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { headers as natsHeaders } from 'nats';
import { MemoryBudget } from '../services/invoker/memory-budget';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';

const test = anyTest.serial as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1, env: { HAYATE_MEMORY_BUDGET_MB: '200' } });
  await t.context.cluster.client.deploy('sleep', readFileSync(exampleWasm('sleep')), { memory_mb: '150', timeout_ms: '20000' });
  await t.context.cluster.client.deploy('upper', readFileSync(exampleWasm('upper')), { memory_mb: '16' });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test('invoker refuses OVERLOADED a call whose limits would pass its memory budget while another holds it', async (t) => {
  const { nc } = t.context.cluster;
  const h = natsHeaders();
  h.set('Hayate-Arg', '3000');
  const first = nc.request('hayate.v1.call.sleep', Buffer.alloc(0), { timeout: 30_000, headers: h });
  await new Promise((r) => setTimeout(r, 500));
  const second = await nc.request('hayate.v1.call.sleep', Buffer.alloc(0), { timeout: 30_000, headers: h });
  t.is(second.headers?.get('Hayate-Status'), 'OVERLOADED');
  t.regex(second.headers?.get('Nats-Service-Error') ?? '', /budget of 209715200 bytes/);
  // a small function still fits beside the big one
  const small = await nc.request('hayate.v1.call.upper', Buffer.from('fits'), { timeout: 30_000 });
  t.is(small.headers?.get('Hayate-Status'), 'OK');
  t.is(Buffer.from(small.data).toString(), 'FITS');
  t.is((await first).headers?.get('Hayate-Status'), 'OK');
});

test('memory budget lets one claim larger than the budget run alone and hands freed memory to the waiter', async (t) => {
  const budget = new MemoryBudget(100, 5000);
  const big = await budget.claim(500, 'big');
  const waiter = budget.claim(60, 'waiter');
  big();
  const release = await waiter;
  t.is(budget.inUse, 60);
  release();
  t.is(budget.inUse, 0);
  const impatient = new MemoryBudget(100, 50);
  const hold = await impatient.claim(90, 'hold');
  const err = await t.throwsAsync(impatient.claim(20, 'late'));
  t.is((err as { code?: string }).code, 'HAYATE_ERR_OVERLOADED');
  t.is(impatient.inUse, 90, 'a refused claim takes nothing');
  hold();
});
