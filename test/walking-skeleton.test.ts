/**
 * End to end through real processes: hayate up (nats-server + controller + 2 invokers), deploy over HTTP,
 * invoke over HTTP, over hayate.v1.call (raw) and hayate.v1.invoke (protobuf, encoded by protoc).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { headers as natsHeaders } from 'nats';
import { decodeInvokeResponse, encodeInvokeRequest } from '../services/common/codec';
import { HayateError } from '../services/common/errors';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm, PROTO_DIR } from './helpers/paths';
import { padModule } from './helpers/modules';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 2 });
  const { client } = t.context.cluster;
  await client.deploy('upper', readFileSync(exampleWasm('upper')));
  await client.deploy('wordcount', readFileSync(exampleWasm('wordcount')));
  await client.deploy('env-echo', readFileSync(exampleWasm('env-echo')), { env: ['HAYATE_TEST_SPEC=spec'], arg: ['first'] });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

test('HTTP invoke returns stdout with tier, id, exit code and Server-Timing headers when the function succeeds', async (t) => {
  const r = await t.context.cluster.client.invoke('upper', Buffer.from('hello, edge'));
  t.is(r.status, 200);
  t.is(r.body.toString(), 'HELLO, EDGE');
  t.is(r.headers.get('hayate-tier'), 'wasm');
  t.is(r.headers.get('hayate-exit-code'), '0');
  t.regex(r.headers.get('hayate-invocation-id') ?? '', /^[A-Za-z0-9_-]+$/);
  t.regex(r.headers.get('hayate-cold-start') ?? '', /^(true|false)$/);
  const timing = r.headers.get('server-timing') ?? '';
  for (const step of ['startup', 'exec', 'teardown', 'total']) t.regex(timing, new RegExp(`${step};dur=\\d+\\.\\d+`));
});

test('HTTP invoke passes spec and request args and env to the function when both are given', async (t) => {
  const r = await t.context.cluster.client.invoke('env-echo', Buffer.from('stdin!'), { args: ['second'] });
  t.is(r.status, 200);
  t.is(r.body.toString(), 'first\nsecond\n--\nHAYATE_TEST_SPEC=spec\nstdin!');
});

test('raw call over NATS answers stdout with Hayate-* headers when sent plain bytes', async (t) => {
  const { nc, invokers } = t.context.cluster;
  const msg = await nc.request('hayate.v1.call.upper', Buffer.from('hello'), { timeout: 10_000 });
  t.is(Buffer.from(msg.data).toString(), 'HELLO');
  t.is(msg.headers?.get('Hayate-Status'), 'OK');
  t.is(msg.headers?.get('Hayate-Exit-Code'), '0');
  t.is(msg.headers?.get('Hayate-Tier'), 'wasm');
  t.true(invokers.some((i) => i.id === msg.headers?.get('Hayate-Invoker')));
  t.truthy(msg.headers?.get('Hayate-Invocation-Id'));
});

test('raw call over NATS carries a service error header when the function is unknown', async (t) => {
  const msg = await t.context.cluster.nc.request('hayate.v1.call.no-such-fn', Buffer.from('x'), { timeout: 10_000 });
  t.is(msg.headers?.get('Hayate-Status'), 'NOT_FOUND');
  t.is(msg.headers?.get('Nats-Service-Error-Code'), '404');
  t.regex(msg.headers?.get('Nats-Service-Error') ?? '', /not deployed/);
});

test('protobuf invoke answers an InvokeRequest encoded by protoc with a response protoc can decode', async (t) => {
  const text = 'invocation_id: "protoc-1"\nfunction: "upper"\ninput: "from protoc"\nattempt: 1\n';
  const encoded = execFileSync('protoc', [`-I${PROTO_DIR}`, '--encode=hayate.v1.InvokeRequest', 'hayate/v1/invoke.proto'], { input: text });
  const msg = await t.context.cluster.nc.request('hayate.v1.invoke.upper', encoded, { timeout: 10_000 });
  const decoded = execFileSync('protoc', [`-I${PROTO_DIR}`, '--decode=hayate.v1.InvokeResponse', 'hayate/v1/invoke.proto'], { input: Buffer.from(msg.data) }).toString();
  t.regex(decoded, /invocation_id: "protoc-1"/);
  t.regex(decoded, /status: OK/);
  t.regex(decoded, /output: "FROM PROTOC"/);
  t.regex(decoded, /tier: WASM/);
  t.regex(decoded, /timings \{[^}]*exec_us: \d+/s);
  t.regex(decoded, /total_us: \d+/);
});

test('protobuf invoke answers BAD_REQUEST when the message is not protobuf', async (t) => {
  const msg = await t.context.cluster.nc.request('hayate.v1.invoke.upper', Buffer.from([0xff, 0xff, 0xff, 0x0f]), { timeout: 10_000 });
  const r = decodeInvokeResponse(msg.data);
  t.is(r.status, 'BAD_REQUEST');
  t.is(r.errorCode, 'HAYATE_ERR_BAD_REQUEST');
});

test('protobuf invoke answers NOT_FOUND when the function is not deployed', async (t) => {
  const req = encodeInvokeRequest({ invocationId: 'nf-1', function: 'ghost', input: new Uint8Array(0), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1 });
  const r = decodeInvokeResponse((await t.context.cluster.nc.request('hayate.v1.invoke.ghost', req, { timeout: 10_000 })).data);
  t.is(r.status, 'NOT_FOUND');
  t.is(r.errorCode, 'HAYATE_ERR_NOT_FOUND');
});

test('HTTP invoke answers 404 with HAYATE_ERR_NOT_FOUND when the function is not deployed', async (t) => {
  const r = await t.context.cluster.client.invoke('ghost', Buffer.from('x'));
  t.is(r.status, 404);
  t.is(r.error?.code, 'HAYATE_ERR_NOT_FOUND');
});

test('deploy answers 400 with the reason when the module is invalid', async (t) => {
  const { client } = t.context.cluster;
  const garbage = await t.throwsAsync(client.deploy('bad', Buffer.from('not wasm at all')), { instanceOf: HayateError });
  t.is(garbage?.code, 'HAYATE_ERR_INVALID_MODULE');
  // a valid but empty module: no _start, no memory
  const empty = await t.throwsAsync(client.deploy('bad', Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), { instanceOf: HayateError });
  t.is(empty?.code, 'HAYATE_ERR_INVALID_MODULE');
  t.regex(empty?.message ?? '', /missing export _start/);
  const badName = await t.throwsAsync(client.deploy('Bad_Name', readFileSync(exampleWasm('upper'))), { instanceOf: HayateError });
  t.is(badName?.code, 'HAYATE_ERR_INVALID_NAME');
  const res = await fetch(`${t.context.cluster.http}/v1/functions/bad`, { method: 'PUT', body: 'xx' });
  t.is(res.status, 400);
});

test('redeploy takes effect on the next call without restarting invokers', async (t) => {
  const { client } = t.context.cluster;
  await client.deploy('swap', readFileSync(exampleWasm('upper')));
  t.is((await client.invoke('swap', Buffer.from('one two'))).body.toString(), 'ONE TWO');
  const v2 = await client.deploy('swap', readFileSync(exampleWasm('wordcount')));
  t.is(v2['name'], 'swap');
  // the invokers learn of it through their KV watch; allow the watch a moment
  let body = '';
  for (let i = 0; i < 50; i += 1) {
    body = (await client.invoke('swap', Buffer.from('one two'))).body.toString();
    if (body !== 'ONE TWO') break;
    await sleep(100);
  }
  t.is(body.trim(), '0 2 7');
});

test('a 20 MiB module deploys and runs when NATS max_payload is far smaller', async (t) => {
  const { client } = t.context.cluster;
  const big = padModule(readFileSync(exampleWasm('upper')), 20 * 1024 * 1024);
  t.true(big.byteLength > 20 * 1024 * 1024);
  const spec = await client.deploy('big', big);
  t.is(spec['module_bytes'], big.byteLength);
  const r = await client.invoke('big', Buffer.from('large'));
  t.is(r.status, 200);
  t.is(r.body.toString(), 'LARGE');
});

test('two invokers share the load when requests arrive on the queue group', async (t) => {
  const { nc, invokers } = t.context.cluster;
  const seen = new Set<string>();
  for (let i = 0; i < 60 && seen.size < 2; i += 1) {
    const msg = await nc.request('hayate.v1.call.upper', Buffer.from(`n${i}`), { timeout: 10_000 });
    seen.add(msg.headers?.get('Hayate-Invoker') ?? '');
  }
  t.deepEqual([...seen].sort(), invokers.map((i) => i.id).sort());
});

test('status lists every invoker with per-function state when functions have run', async (t) => {
  const { client, invokers } = t.context.cluster;
  await client.invoke('upper', Buffer.from('s'));
  type Status = { invokers: { id: string; state: string; functions: { name: string; state: string; wasm: { invocations: number } }[] }[] };
  const ids = invokers.map((i) => i.id).sort();
  // status is a snapshot of the answers that came within its quiet time (150 ms after the last one): on a
  // loaded machine an invoker can answer later than that, and is listed by the next status
  let status = (await client.status()) as Status;
  for (let i = 0; i < 5 && status.invokers.length < ids.length; i += 1) status = (await client.status()) as Status;
  t.deepEqual(status.invokers.map((i) => i.id).sort(), ids);
  t.true(status.invokers.every((i) => i.state === 'running'));
  const upper = status.invokers.flatMap((i) => i.functions).filter((f) => f.name === 'upper');
  t.true(upper.length > 0);
  t.true(upper.every((f) => f.state === 'wasm'));
  t.true(upper.reduce((n, f) => n + f.wasm.invocations, 0) > 0);
});

test('raw call honours Hayate-Arg headers when given', async (t) => {
  const h = natsHeaders();
  h.append('Hayate-Arg', 'a1');
  h.append('Hayate-Arg', 'a2');
  const msg = await t.context.cluster.nc.request('hayate.v1.call.env-echo', Buffer.from(''), { timeout: 10_000, headers: h });
  t.is(Buffer.from(msg.data).toString(), 'first\na1\na2\n--\nHAYATE_TEST_SPEC=spec\n');
});
