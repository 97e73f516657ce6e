/**
 * deploy/nats/accounts.conf at work: a nats-server runs it (passwords swapped for random ones), a real
 * controller and invoker connect as hayate-controller and hayate-invoker, and a client of the CLIENTS
 * account can invoke functions but can neither subscribe to invocations nor publish answers.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { connect, createInbox } from 'nats';
import type { NatsConnection } from 'nats';
import { HttpClient } from '../services/cli/http-client';
import { freePort, HAYATE_BIN, natsServerBinary, spawnUntilReady, stopChild } from '../services/cli/processes';
import { decodeInvokeResponse, encodeInvokeRequest } from '../services/common/codec';
import { exampleWasm, ROOT } from './helpers/paths';

interface Context {
  dir: string;
  port: number;
  passwords: Record<'invoker' | 'controller' | 'client', string>;
  children: ChildProcess[];
  connections: NatsConnection[];
}

const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-nats-perm-'));
  const port = await freePort();
  const passwords = { invoker: randomBytes(12).toString('hex'), controller: randomBytes(12).toString('hex'), client: randomBytes(12).toString('hex') };
  const accounts = readFileSync(join(ROOT, 'deploy', 'nats', 'accounts.conf'), 'utf8')
    .replace('"CHANGE-ME-invoker"', JSON.stringify(passwords.invoker))
    .replace('"CHANGE-ME-controller"', JSON.stringify(passwords.controller))
    .replace('"CHANGE-ME-client"', JSON.stringify(passwords.client));
  writeFileSync(join(dir, 'accounts.conf'), accounts);
  mkdirSync(join(dir, 'js'));
  const conf = join(dir, 'server.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8MB\njetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }\ninclude ./accounts.conf\n`);
  execFileSync(natsServerBinary(), ['-c', conf, '-t'], { stdio: 'ignore' });
  const nats = spawn(natsServerBinary(), ['-c', conf], { stdio: 'ignore' });
  t.context = { dir, port, passwords, children: [nats], connections: [] };
  for (let i = 0; ; i += 1) {
    try {
      (await connectAs(t.context, 'client')).close();
      break;
    } catch (err: unknown) {
      if (i > 100) throw err;
      await sleep(100);
    }
  }
  const url = (user: 'invoker' | 'controller') => `nats://hayate-${user}:${passwords[user]}@127.0.0.1:${port}`;
  const controller = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', url('controller'), '--port', '0'], /^hayate controller ready http=/, { label: 'controller' });
  t.context.children.push(controller.child);
  const invoker = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'invoker', '--nats', url('invoker'), '--id', 'perm-1', '--workers', '1'], /^hayate invoker ready/, { label: 'invoker', env: { ...process.env, HAYATE_CONTAINERS: 'off' } });
  t.context.children.push(invoker.child);
  const http = new HttpClient(controller.line.replace(/^hayate controller ready http=/, '').trim());
  await http.deploy('upper', readFileSync(exampleWasm('upper')));
});

test.after.always(async (t) => {
  for (const nc of t.context.connections ?? []) await nc.close().catch(() => undefined);
  // hayate first, nats-server last: the processes drain through it
  for (const child of [...(t.context.children ?? [])].reverse()) await stopChild(child, 10_000);
  if (t.context.dir !== undefined) rmSync(t.context.dir, { recursive: true, force: true });
});

async function connectAs(ctx: Context, who: 'invoker' | 'controller' | 'client'): Promise<NatsConnection> {
  const user = who === 'client' ? 'client' : `hayate-${who}`;
  const nc = await connect({ servers: `127.0.0.1:${ctx.port}`, user, pass: ctx.passwords[who] });
  ctx.connections.push(nc);
  return nc;
}

/** Counts the permission violations the server reports to a connection. */
function violations(nc: NatsConnection): { count: () => number } {
  let n = 0;
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error' && String(s.data) === 'PERMISSIONS_VIOLATION') n += 1;
  })();
  return { count: () => n };
}

/** Subscribes and resolves with the error the subscription ended with, or null if it stayed open. */
async function trySubscribe(nc: NatsConnection, subject: string): Promise<string | null> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(subject, { callback: (err) => resolve(err?.code ?? null) });
    void nc.flush().then(() => setTimeout(() => (sub.isClosed() ? undefined : resolve(null)), 200));
  });
}

test('client account invokes functions when it publishes on the call and invoke subjects', async (t) => {
  const nc = await connectAs(t.context, 'client');
  const call = await nc.request('hayate.v1.call.upper', Buffer.from('through the import'), { timeout: 10_000 });
  t.is(Buffer.from(call.data).toString(), 'THROUGH THE IMPORT');
  t.is(call.headers?.get('Hayate-Status'), 'OK');
  const req = encodeInvokeRequest({ invocationId: 'perm-invoke-1', function: 'upper', input: Buffer.from('pb'), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 });
  const r = decodeInvokeResponse((await nc.request('hayate.v1.invoke.upper', req, { timeout: 10_000 })).data);
  t.is(r.status, 'OK');
  t.is(Buffer.from(r.output).toString(), 'PB');
});

test('client account cannot subscribe to invocations when it tries the invoke, call or async subjects', async (t) => {
  const nc = await connectAs(t.context, 'client');
  for (const subject of ['hayate.v1.invoke.>', 'hayate.v1.call.upper', 'hayate.v1.async.*', 'hayate.>', '>']) {
    t.is(await trySubscribe(nc, subject), 'PERMISSIONS_VIOLATION', subject);
  }
  // and its own inbox is allowed: the positive control
  t.is(await trySubscribe(nc, `${createInbox()}.x`), null);
});

test('only the invoker user subscribes to invocations when the controller user tries too', async (t) => {
  const controller = await connectAs(t.context, 'controller');
  t.is(await trySubscribe(controller, 'hayate.v1.invoke.>'), 'PERMISSIONS_VIOLATION');
  t.is(await trySubscribe(controller, 'hayate.v1.call.*'), 'PERMISSIONS_VIOLATION');
  const invoker = await connectAs(t.context, 'invoker');
  t.is(await trySubscribe(invoker, 'hayate.v1.invoke.*'), null);
});

test('client account cannot publish a fake answer when it targets another requester inbox or hayate internals', async (t) => {
  const victim = await connectAs(t.context, 'client');
  const attacker = await connectAs(t.context, 'client');
  const denied = violations(attacker);
  const inbox = createInbox();
  const received: string[] = [];
  victim.subscribe(`${inbox}.>`, { callback: (_err, m) => received.push(Buffer.from(m.data).toString()) });
  await victim.flush();
  const forged = [`${inbox}.1`, '_R_.anything.x', 'hayate.v1.answer.some-id', 'hayate.v1.status', '$KV.hayate_functions.upper', '$JS.API.STREAM.LIST', '$SRV.PING'];
  for (const subject of forged) attacker.publish(subject, Buffer.from('FAKE'));
  await attacker.flush();
  victim.publish('hayate.v1.call.upper', Buffer.from('real'), { reply: `${inbox}.1` });
  await victim.flush();
  for (let i = 0; i < 100 && (received.length === 0 || denied.count() < forged.length); i += 1) await sleep(50);
  t.is(denied.count(), forged.length);
  t.deepEqual(received, ['REAL']);
});
