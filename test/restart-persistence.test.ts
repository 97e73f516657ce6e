/**
 * Restarting everything, NATS included (SPEC §1: controllers and invokers keep nothing a restart loses):
 * `hayate up` on one data folder, stopped and started again on new ports.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import test from 'ava';
import { HttpClient } from '../services/cli/http-client';
import { waitFor } from './helpers/delivery';
import { exited } from './helpers/process';
import { exampleWasm, HAYATE_BIN } from './helpers/paths';

interface Up {
  child: ChildProcess;
  client: HttpClient;
  http: string;
}

const dir = mkdtempSync(join(tmpdir(), 'hayate-restart-'));
const running = new Set<ChildProcess>();

/** `hayate up` on the shared data folder, with fresh ports. */
async function up(invokers: number): Promise<Up> {
  const child = spawn(process.execPath, [HAYATE_BIN, 'up', '--data', join(dir, 'data'), '--http-port', '0', '--nats-port', '0', '--invokers', String(invokers)], {
    env: { ...process.env, HAYATE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.add(child);
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hayate up did not get ready in 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`hayate up exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('hayate ready ')) {
        clearTimeout(timer);
        resolve(l);
      }
    });
  });
  const http = /http=(\S+)/.exec(line)?.[1] ?? '';
  return { child, http, client: new HttpClient(http) };
}

async function stop(u: Up): Promise<void> {
  const gone = exited(u.child);
  u.child.kill('SIGTERM');
  await gone;
  running.delete(u.child);
}

function finished(client: HttpClient, id: string): Promise<Record<string, unknown>> {
  return waitFor(`activation ${id} to finish`, async () => {
    const a = await client.activation(id);
    return a['state'] === 'succeeded' || a['state'] === 'failed' ? a : undefined;
  }, 30_000, 100);
}

test.after.always(async () => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('restart of everything, NATS included, keeps functions, activation records and queued async work when the data folder is kept', async (t) => {
  const first = await up(1);
  const deployed = await first.client.deploy('upper', readFileSync(exampleWasm('upper')));
  const res = await fetch(`${first.http}/v1/functions/upper/invoke?async=1`, { method: 'POST', body: 'kept across restarts' });
  const { id: done } = (await res.json()) as { id: string };
  const before = await finished(first.client, done);
  t.is(before['state'], 'succeeded');
  await stop(first);

  // no invokers this time: an async invocation accepted now must wait in the stream for the next start
  const second = await up(0);
  t.like(await second.client.get('upper'), { name: 'upper', digest: deployed['digest'], version: deployed['version'] });
  t.deepEqual(await second.client.activation(done), before);
  const queued = (await (await fetch(`${second.http}/v1/functions/upper/invoke?async=1`, { method: 'POST', body: 'queued across restarts' })).json()) as { id: string };
  t.is((await second.client.activation(queued.id))['state'], 'queued');
  await stop(second);

  const third = await up(1);
  t.deepEqual(await third.client.activation(done), before);
  const after = await finished(third.client, queued.id);
  t.is(after['state'], 'succeeded');
  t.is(after['output'], 'QUEUED ACROSS RESTARTS');
  const sync = await third.client.invoke('upper', Buffer.from('still deployed'));
  t.is(sync.body.toString(), 'STILL DEPLOYED');
  await stop(third);
});
