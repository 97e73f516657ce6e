/**
 * Bad input from clients gets its own typed answer: API keys on every /v1 route, body limits (413), deploy
 * validation (400 with the reason), malformed messages and bad tokens on the NATS subjects (BAD_REQUEST),
 * and `hayate controller` refusing to listen beyond loopback without keys.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import { headers as natsHeaders } from 'nats';
import { HttpClient } from '../services/cli/http-client';
import { HAYATE_BIN, spawnUntilReady, stopChild } from '../services/cli/processes';
import type { InvokeRequest } from '../services/common/codec';
import { decodeInvokeResponse, encodeInvokeRequest } from '../services/common/codec';
import { ERRORS, HayateError } from '../services/common/errors';
import { runCli } from './helpers/cli';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';

const KEY = 'test-key-0123456789abcdef';
const test = anyTest as TestFn<{ cluster: Cluster; client: HttpClient }>;
const MiB = 1024 * 1024;

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 1, args: ['--workers', '2'], env: { HAYATE_API_KEYS: `other-key, ${KEY}`, HAYATE_MAX_MODULE_MB: '2' } });
  const client = new HttpClient(cluster.http, KEY);
  t.context = { cluster, client };
  await client.deploy('upper', readFileSync(exampleWasm('upper')), { max_input_bytes: 100 });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

/**
 * POSTs a body with node:http and takes the answer even when the server answers before reading it all and
 * closes (as it does past a body limit); fetch() reports such an exchange only as "fetch failed".
 */
function postEarlyAnswer(url: string, authorization: string, body: Uint8Array, method = 'POST'): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { authorization, 'content-type': 'application/octet-stream', 'content-length': body.byteLength } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: { code: string; message: string } } }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(Buffer.from(body));
  });
}

async function fetchAs(t: ExecutionContext<{ cluster: Cluster }>, method: string, path: string, authorization?: string, body?: Uint8Array): Promise<{ status: number; json: { error?: { code: string; message: string } } & Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${t.context.cluster.http}${path}`, {
    method,
    headers: { ...(authorization === undefined ? {} : { authorization }), ...(body === undefined ? {} : { 'content-type': 'application/octet-stream' }) },
    body: body === undefined ? undefined : Buffer.from(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

function expectError(t: ExecutionContext, r: { status: number; json: { error?: { code: string; message: string } } }, code: keyof typeof ERRORS, what: string): void {
  t.is(r.status, ERRORS[code].httpStatus, what);
  t.is(r.json.error?.code, code, what);
  t.is(typeof r.json.error?.message, 'string', what);
}

const V1_ROUTES: [string, string][] = [
  ['GET', '/v1/functions'],
  ['GET', '/v1/functions/upper'],
  ['PUT', '/v1/functions/upper'],
  ['DELETE', '/v1/functions/upper'],
  ['POST', '/v1/functions/upper/invoke'],
  ['POST', '/v1/functions/upper/invoke?async=1'],
  ['GET', '/v1/activations/some-id'],
  ['GET', '/v1/status'],
  ['GET', '/v1/no-such-route'],
];

test('every /v1 route answers 401 with WWW-Authenticate when the API key is missing or wrong', async (t) => {
  const wrong = [undefined, '', 'Bearer', 'Bearer ', 'Bearer wrong', `Bearer ${KEY}x`, `Bearer ${KEY.slice(1)}`, `Basic ${KEY}`, `${KEY}`, `Bearer  ${KEY}`, `Bearer ${'k'.repeat(5000)}`];
  for (const [method, path] of V1_ROUTES) {
    for (const authorization of wrong) {
      const r = await fetchAs(t, method, path, authorization, method === 'PUT' || method === 'POST' ? Buffer.from('x') : undefined);
      expectError(t, r, 'HAYATE_ERR_UNAUTHORIZED', `${method} ${path} with ${JSON.stringify(authorization)}`);
      t.is(r.headers.get('www-authenticate'), 'Bearer');
    }
  }
});

test('API keys admit a request when any configured key is given as Bearer', async (t) => {
  t.is((await fetchAs(t, 'GET', '/v1/functions', `Bearer ${KEY}`)).status, 200);
  t.is((await fetchAs(t, 'GET', '/v1/functions', 'Bearer other-key')).status, 200);
  t.is((await fetchAs(t, 'GET', '/v1/functions', `bearer ${KEY}`)).status, 200);
  // probes stay open: orchestrators call them without keys
  for (const path of ['/healthz', '/readyz', '/metrics']) t.is((await fetch(`${t.context.cluster.http}${path}`)).status, 200, path);
});

test('HTTP invoke answers 413 when the body is larger than HAYATE_MAX_REQUEST_MB or max_input_bytes', async (t) => {
  const big = await postEarlyAnswer(`${t.context.cluster.http}/v1/functions/upper/invoke`, `Bearer ${KEY}`, new Uint8Array(9 * MiB));
  expectError(t, big, 'HAYATE_ERR_PAYLOAD_TOO_LARGE', 'over HAYATE_MAX_REQUEST_MB');
  t.regex(big.json.error?.message ?? '', /larger than 8388608 bytes \(HAYATE_MAX_REQUEST_MB\)/);
  const overInput = await fetchAs(t, 'POST', '/v1/functions/upper/invoke', `Bearer ${KEY}`, new Uint8Array(101));
  expectError(t, overInput, 'HAYATE_ERR_PAYLOAD_TOO_LARGE', 'over max_input_bytes');
  t.regex(overInput.json.error?.message ?? '', /input is 101 bytes and max_input_bytes is 100/);
  const fits = await t.context.client.invoke('upper', Buffer.from('x'.repeat(100)));
  t.is(fits.status, 200);
});

test('deploy answers 413 when the module is larger than HAYATE_MAX_MODULE_MB', async (t) => {
  const r = await postEarlyAnswer(`${t.context.cluster.http}/v1/functions/huge`, `Bearer ${KEY}`, new Uint8Array(3 * MiB), 'PUT');
  expectError(t, r, 'HAYATE_ERR_PAYLOAD_TOO_LARGE', 'module over the limit');
  t.regex(r.json.error?.message ?? '', /HAYATE_MAX_MODULE_MB/);
});

test('deploy answers 400 with the reason when the module or an option is invalid', async (t) => {
  const { client } = t.context;
  const upper = readFileSync(exampleWasm('upper'));
  const cases: [Uint8Array, Record<string, string | string[]>, keyof typeof ERRORS, RegExp][] = [
    [Buffer.from('\0asm\x01\0\0\0garbage'), {}, 'HAYATE_ERR_INVALID_MODULE', /not valid WebAssembly/],
    [Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), {}, 'HAYATE_ERR_INVALID_MODULE', /missing export _start/],
    [upper, { memory_mb: '0' }, 'HAYATE_ERR_INVALID_OPTION', /memory_mb="0"/],
    [upper, { memory_mb: ['64', '128'] }, 'HAYATE_ERR_INVALID_OPTION', /given 2 times/],
    [upper, { timeout_ms: '1e3' }, 'HAYATE_ERR_INVALID_OPTION', /timeout_ms/],
    [upper, { policy: 'fastest' }, 'HAYATE_ERR_INVALID_OPTION', /policy="fastest"/],
    [upper, { policy: 'container' }, 'HAYATE_ERR_INVALID_OPTION', /has no image/],
    [upper, { env: 'NO_EQUALS' }, 'HAYATE_ERR_INVALID_OPTION', /KEY=VALUE/],
    [upper, { env: '1BAD=x' }, 'HAYATE_ERR_INVALID_OPTION', /KEY=VALUE/],
    [upper, { image: 'bad image!' }, 'HAYATE_ERR_INVALID_OPTION', /not a Docker image reference/],
  ];
  for (const [module, query, code, reason] of cases) {
    const err = await t.throwsAsync(client.deploy('bad', module, query), { instanceOf: HayateError }, JSON.stringify(query));
    t.is(err?.code, code, JSON.stringify(query));
    t.regex(err?.message ?? '', reason);
  }
  const badName = await t.throwsAsync(client.deploy('Bad.Name', upper), { instanceOf: HayateError });
  t.is(badName?.code, 'HAYATE_ERR_INVALID_NAME');
  await t.throwsAsync(client.get('bad'), { message: /not deployed/ });
});

function request(overrides: Partial<InvokeRequest>): Uint8Array {
  return encodeInvokeRequest({ invocationId: `iv-${Math.random().toString(36).slice(2)}`, function: 'upper', input: Buffer.from('x'), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 1, ...overrides });
}

test('protobuf invoke answers BAD_REQUEST with the reason when the message or one of its tokens is malformed', async (t) => {
  const { nc } = t.context.cluster;
  const cases: [string, Uint8Array, RegExp][] = [
    ['hayate.v1.invoke.upper', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), /Cannot decode InvokeRequest|Invalid invocation id/],
    ['hayate.v1.invoke.upper', Buffer.from([0x0a, 0x05, 0x61]), /Cannot decode InvokeRequest/],
    // text happens to parse as protobuf fields; what it parses to has no valid invocation id
    ['hayate.v1.invoke.upper', Buffer.from('not protobuf at all'), /Cannot decode InvokeRequest|Invalid invocation id/],
    ['hayate.v1.invoke.upper', request({ invocationId: 'has space' }), /Invalid invocation id/],
    ['hayate.v1.invoke.upper', request({ invocationId: 'x'.repeat(65) }), /Invalid invocation id/],
    ['hayate.v1.invoke.upper', request({ function: 'wordcount' }), /names function "wordcount" but was sent to upper/],
    ['hayate.v1.invoke.Upper', request({ function: '' }), /Invalid function name "Upper"/],
    ['hayate.v1.invoke.-upper', request({ function: '' }), /Invalid function name "-upper"/],
    ['hayate.v1.invoke.upper', request({ args: ['ok', 'nul\0byte'] }), /argument 2: arguments cannot contain NUL/],
    ['hayate.v1.invoke.upper', request({ env: { 'A=B': 'x' } }), /Invalid environment variable "A=B"/],
    ['hayate.v1.invoke.upper', request({ env: { A: 'nul\0' } }), /values cannot contain NUL/],
  ];
  for (const [subject, data, reason] of cases) {
    const r = decodeInvokeResponse((await nc.request(subject, data, { timeout: 10_000 })).data);
    t.is(r.status, 'BAD_REQUEST', `${subject} ${reason.source}`);
    t.true(r.errorCode === 'HAYATE_ERR_BAD_REQUEST' || r.errorCode === 'HAYATE_ERR_INVALID_NAME', r.errorCode);
    t.regex(r.errorMessage, reason);
  }
});

test('raw call answers BAD_REQUEST in its headers when a header or the subject token is malformed', async (t) => {
  const { nc } = t.context.cluster;
  const withHeader = (name: string, value: string) => {
    const h = natsHeaders();
    h.set(name, value);
    return h;
  };
  const cases: [string, ReturnType<typeof natsHeaders> | undefined][] = [
    ['hayate.v1.call.UPPER', undefined],
    ['hayate.v1.call.upper', withHeader('Hayate-Invocation-Id', 'bad/id')],
    ['hayate.v1.call.upper', withHeader('Hayate-Arg', 'a\0b')],
  ];
  for (const [subject, headers] of cases) {
    const m = await nc.request(subject, Buffer.from('x'), { timeout: 10_000, headers });
    t.is(m.headers?.get('Hayate-Status'), 'BAD_REQUEST', subject);
    t.is(m.headers?.get('Nats-Service-Error-Code'), '400', subject);
  }
  // nonsense deadline and attempt headers are ignored, not trusted
  const ok = await nc.request('hayate.v1.call.upper', Buffer.from('fine'), { timeout: 10_000, headers: withHeader('Hayate-Deadline', 'soon') });
  t.is(Buffer.from(ok.data).toString(), 'FINE');
});

test('hayate controller refuses to listen beyond loopback without API keys unless --insecure', async (t) => {
  const { nats } = t.context.cluster;
  const env = { HAYATE_API_KEYS: '' };
  const refused = await runCli(['controller', '--nats', nats, '--host', '0.0.0.0', '--port', '0'], undefined, env);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /Refusing to listen on 0\.0\.0\.0 without API keys: set HAYATE_API_KEYS, or pass --insecure/);
  for (const [args, extraEnv] of [[['--insecure'], env], [[], { HAYATE_API_KEYS: KEY }]] as const) {
    const started = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', nats, '--host', '0.0.0.0', '--port', '0', ...args], /^hayate controller ready http=/, { label: 'controller', env: { ...process.env, ...extraEnv } });
    t.regex(started.line, /^hayate controller ready http=http:\/\/[\d.]+:\d+$/);
    await stopChild(started.child, 10_000);
  }
});
