/**
 * Schedule triggers (SPEC §7: each tick fires once across all controllers) with two controllers on one NATS:
 * both publish every tick, the trigger's stream keeps one, an invoker runs each kept tick once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import type { Msg } from 'nats';
import { HAYATE_BIN, spawnUntilReady, stopChild } from '../services/cli/processes';
import type { Started } from '../services/cli/processes';
import { EventsClient } from '../services/cli/events-client';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import type { InvokerProcess } from './helpers/delivery';
import { executions, spawnInvoker, waitFor } from './helpers/delivery';
import { killHard } from './helpers/process';
import { exampleWasm } from './helpers/paths';

type Context = { cluster: Cluster; second: Started; invoker: InvokerProcess; audit: string };
const test = anyTest.serial as TestFn<Context>;

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 0 });
  const audit = join(cluster.dir, 'executions.log');
  const second = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', cluster.nats, '--port', '0'], /^hayate controller ready http=/, { label: 'controller-2', env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' } });
  const invoker = await spawnInvoker(cluster.nats, 'sched-a', audit);
  t.context = { cluster, second, invoker, audit };
  await cluster.client.deploy('temp-alert', readFileSync(exampleWasm('temp-alert')));
});

test.after.always(async (t) => {
  if (t.context.invoker !== undefined) await killHard(t.context.invoker.child);
  if (t.context.second !== undefined) await stopChild(t.context.second.child);
  await t.context.cluster?.stop();
});

test('schedule trigger fires each tick exactly once when two controllers publish every tick', async (t) => {
  const { cluster } = t.context;
  const events = new EventsClient(cluster.http);
  // every publish of a tick, from either controller (a core subscriber sees duplicates the stream drops)
  const published: Msg[] = [];
  const sub = cluster.nc.subscribe('hayate.v1.tick.every-second', { callback: (err, msg) => err === null && published.push(msg) });
  const made = await events.putTrigger('every-second', { function: 'temp-alert', every: '1s' });
  t.is(made['kind'], 'every');
  await waitFor('six ticks published by both controllers', () => {
    const times = new Set(published.map((m) => m.headers?.get('Hayate-Scheduled')));
    return times.size >= 6 ? true : undefined;
  }, 30_000, 100);
  // stop the ticks but keep the trigger and its stream: a cron that fires next year
  await events.putTrigger('every-second', { function: 'temp-alert', cron: '0 0 1 1 *' });
  await new Promise((r) => setTimeout(r, 1500)); // a tick already due when the update arrived may still land
  const settled = await waitFor('every kept tick to run', async () => {
    const v = (await events.trigger('every-second'))['metrics'] as Record<string, number>;
    return v['lag'] === 0 && v['in_flight'] === 0 && v['invoked'] === v['received'] ? v : undefined;
  }, 30_000, 200);
  sub.unsubscribe();

  const ticks = new Map<string, number>();
  for (const m of published) {
    const at = m.headers?.get('Hayate-Scheduled') ?? '';
    ticks.set(at, (ticks.get(at) ?? 0) + 1);
  }
  t.true([...ticks.values()].some((n) => n === 2), 'both controllers published the same tick');
  t.true([...ticks.values()].every((n) => n <= 2), 'no controller published a tick twice');
  t.is(settled['received'], ticks.size, 'the stream kept one message per distinct tick');
  const uid = String(made['uid']);
  const starts = executions(t.context.audit).filter((r) => r.event === 'start' && r.invocationId.startsWith(`t-${uid}-`));
  const perId = new Map<string, number>();
  for (const r of starts) perId.set(r.invocationId, (perId.get(r.invocationId) ?? 0) + 1);
  t.is(perId.size, ticks.size, 'one activation per tick');
  t.true([...perId.values()].every((n) => n === 1), 'each tick ran once');
  // ticks are whole seconds, consecutive: none was skipped
  const seconds = [...ticks.keys()].map((iso) => Date.parse(iso) / 1000).sort((a, b) => a - b);
  t.true(seconds.every((s, i) => Number.isInteger(s) && (i === 0 || s === seconds[i - 1]! + 1)), `consecutive ticks: ${seconds.join(' ')}`);
});

test('cron trigger shows its next tick and is refused for an invalid expression', async (t) => {
  const events = new EventsClient(t.context.cluster.http);
  const made = await events.putTrigger('nightly', { function: 'temp-alert', cron: '30 2 * * *' });
  const next = new Date(String(made['next_tick']));
  t.is(next.getUTCHours(), 2);
  t.is(next.getUTCMinutes(), 30);
  t.true(next.getTime() > Date.now());
  const err = await events.putTrigger('broken', { function: 'temp-alert', cron: '61 * * * *' }).then(() => null, (e: unknown) => e);
  t.is((err as { code?: string }).code, 'HAYATE_ERR_INVALID_OPTION');
});
