/**
 * `hayate up` supervises its children (issue 11, finding 1): an invoker or the controller killed with
 * SIGKILL is started again (same id, same URL), logged, and the state file gets its new pid.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { decodeInvokerStatus } from '../services/common/codec';
import { HttpClient } from '../services/cli/http-client';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';
import { alive } from './helpers/process';

const test = anyTest as TestFn<{ cluster: Cluster }>;

interface State {
  http: string;
  invokers: { id: string; pid: number }[];
  controller: { pid: number };
}

const readState = (c: Cluster): State => JSON.parse(readFileSync(join(c.dir, 'state.json'), 'utf8')) as State;

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 300; i += 1) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 2, captureLogs: true, env: { HAYATE_LOG_LEVEL: 'info' } });
  await t.context.cluster.client.deploy('upper', readFileSync(exampleWasm('upper')));
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test.serial('hayate up restarts an invoker killed with SIGKILL and the state file holds its new pid', async (t) => {
  const c = t.context.cluster;
  const [victim] = readState(c).invokers;
  if (victim === undefined) throw new Error('no invoker in the state file');
  process.kill(victim.pid, 'SIGKILL');
  const next = await until('a new pid in the state file', () => readState(c).invokers.find((i) => i.id === victim.id && i.pid !== victim.pid));
  t.true(alive(next.pid));
  t.false(alive(victim.pid));
  t.true(c.logs.some((l) => l.includes('child restarted') && l.includes(victim.id)), 'the restart is logged');
  // it serves: the status round counts both invokers, the restarted one by its id and new pid
  const pids = await until('the restarted invoker in status', async () => {
    const replies = await c.nc.requestMany('hayate.v1.status', new Uint8Array(0), { maxWait: 1000 });
    const found: number[] = [];
    for await (const m of replies) {
      const s = decodeInvokerStatus(m.data);
      if (s.invokerId === victim.id) found.push(s.pid);
    }
    return found.includes(next.pid) ? found : undefined;
  });
  t.deepEqual(pids, [next.pid]);
  for (let i = 0; i < 6; i += 1) t.is((await c.client.invoke('upper', Buffer.from('back'))).body.toString(), 'BACK');
});

test.serial('hayate up restarts the controller killed with SIGKILL on the same URL', async (t) => {
  const c = t.context.cluster;
  const before = readState(c);
  process.kill(before.controller.pid, 'SIGKILL');
  const next = await until('a new controller pid', () => {
    const s = readState(c);
    return s.controller.pid !== before.controller.pid ? s : undefined;
  });
  t.is(next.http, before.http);
  const r = await new HttpClient(next.http).invoke('upper', Buffer.from('again'));
  t.is(r.status, 200);
  t.is(r.body.toString(), 'AGAIN');
});
