/**
 * Property tests (fast-check) over everything that parses outside input: the protobuf decoders, deploy
 * validation, the HTTP routes (fastify's inject against buildServer on a real cluster's NATS) and the
 * NATS subjects of a real invoker. Thousands of random inputs: no crash, no silence, every answer typed.
 * A failure prints fast-check's seed and the shrunk input that reproduces it.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import fc from 'fast-check';
import { headers as natsHeaders } from 'nats';
import pino from 'pino';
import { ActivationStore } from '../services/common/activations';
import { AsyncQueue } from '../services/common/async-queue';
import type { InvokeRequest } from '../services/common/codec';
import { decodeActivation, decodeFunctionSpec, decodeInvokeRequest, decodeInvokeResponse, decodeInvokerStatus, encodeInvokeRequest } from '../services/common/codec';
import { DEFAULTS, loadConfig } from '../services/common/config';
import { ERRORS, HayateError, isErrorCode } from '../services/common/errors';
import { parseFunctionName } from '../services/common/names';
import { FunctionStore } from '../services/common/store';
import { capModuleMemory, inspectModule, PAGES_PER_MIB } from '../services/common/wasm-module';
import { buildSpec } from '../services/controller/deploy-options';
import { buildServer } from '../services/controller/server';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ cluster: Cluster; app: ReturnType<typeof buildServer>['app']; close: () => void; serverErrors: unknown[] }>;
const UPPER = readFileSync(exampleWasm('upper'));

test.before(async (t) => {
  const cluster = await startCluster({ invokers: 1, args: ['--workers', '2'] });
  await cluster.client.deploy('upper', UPPER);
  const { nc } = cluster;
  const serverErrors: unknown[] = [];
  // the controller logs every 5xx it answers as 'request failed': collect them
  const log = pino({ level: 'error', hooks: { logMethod: (args, method) => (serverErrors.push(args), method.apply(log, args)) } }, pino.destination('/dev/null'));
  const config = loadConfig({}, { subjectPrefix: 'hayate', functionDefaults: { ...DEFAULTS.functionDefaults, timeoutMs: 3000 } });
  const store = await FunctionStore.open(nc);
  const queue = await AsyncQueue.open(nc, { prefix: 'hayate' });
  const activations = await ActivationStore.open(nc);
  const { app, client } = buildServer({ nc, store, config, log, queue, activations });
  await app.ready();
  t.context = { cluster, app, close: () => client.close(), serverErrors };
});

test.after.always(async (t) => {
  t.context.close?.();
  await t.context.app?.close();
  await t.context.cluster?.stop();
});

const DECODERS: [string, (b: Uint8Array) => unknown][] = [
  ['InvokeRequest', decodeInvokeRequest],
  ['InvokeResponse', decodeInvokeResponse],
  ['Activation', decodeActivation],
  ['FunctionSpec', decodeFunctionSpec],
  ['InvokerStatus', decodeInvokerStatus],
];

/** Decoding either works or fails with BAD_REQUEST; nothing else escapes. */
function decodesOrBadRequest(decode: (b: Uint8Array) => unknown, bytes: Uint8Array): boolean {
  try {
    decode(bytes);
    return true;
  } catch (err: unknown) {
    return err instanceof HayateError && err.code === 'HAYATE_ERR_BAD_REQUEST';
  }
}

const anyRequest: fc.Arbitrary<InvokeRequest> = fc.record({
  invocationId: fc.string({ maxLength: 70 }),
  function: fc.string({ maxLength: 70 }),
  input: fc.uint8Array({ maxLength: 512 }),
  args: fc.array(fc.fullUnicodeString({ maxLength: 20 }), { maxLength: 5 }),
  env: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.fullUnicodeString({ maxLength: 20 }), { maxKeys: 4 }),
  timeoutMs: fc.nat(),
  deadlineUnixMs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  attempt: fc.nat(),
});

test('protobuf decoders return a message or BAD_REQUEST when given random bytes', (t) => {
  for (const [name, decode] of DECODERS) {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => decodesOrBadRequest(decode, bytes)), { numRuns: 2000 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => decodesOrBadRequest(decode, Buffer.from(bytes))), { numRuns: 1000 });
    t.pass(name);
  }
});

test('protobuf decoders return a message or BAD_REQUEST when a valid message is cut or has bytes changed', (t) => {
  const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 });
  fc.assert(
    fc.property(anyRequest, edits, fc.nat(), (req, changes, cut) => {
      const bytes = Buffer.from(encodeInvokeRequest(req));
      for (const [at, value] of changes) if (bytes.length > 0) bytes[at % bytes.length] = value;
      const sliced = bytes.subarray(0, bytes.length === 0 ? 0 : cut % (bytes.length + 1));
      return DECODERS.every(([, decode]) => decodesOrBadRequest(decode, sliced));
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('InvokeRequest comes back equal when encoded and decoded', (t) => {
  fc.assert(
    fc.property(anyRequest, (req) => {
      const back = decodeInvokeRequest(Buffer.from(encodeInvokeRequest(req)));
      t.deepEqual({ ...back, input: Buffer.from(back.input) }, { ...req, input: Buffer.from(req.input) });
    }),
    { numRuns: 1000 },
  );
});

/** Module bytes: random, or the upper example with bytes changed, cut, or a section appended. */
const anyModule: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([changes, cut]) => {
    const bytes = Buffer.from(UPPER);
    for (const [at, value] of changes) bytes[8 + (at % (bytes.length - 8))] = value;
    return cut % 4 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
  }),
  fc.tuple(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 40 })).map(([id, payload]) => Buffer.concat([UPPER, Buffer.from([id, payload.length]), payload])),
);

const OPTION_KEYS = ['memory_mb', 'timeout_ms', 'max_concurrency', 'policy', 'image', 'env', 'arg', 'max_input_bytes', 'max_output_bytes', 'max_stderr_bytes', 'other'];
const optionValue = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -10, max: 100_000 }).map(String), fc.constantFrom('auto', 'wasm', 'container', 'K=V', '=x', '1e3', '0x10', ' 64', 'img:1', '\0'));
const anyQuery = fc.dictionary(fc.constantFrom(...OPTION_KEYS), fc.oneof(optionValue, fc.array(optionValue, { maxLength: 3 })), { maxKeys: 5 });

test('deploy validation returns a spec or a typed 400 when given random modules and options', (t) => {
  let accepted = 0;
  fc.assert(
    fc.property(anyModule, anyQuery, (module, query) => {
      try {
        const spec = buildSpec(parseFunctionName('fuzz'), module, query, DEFAULTS.functionDefaults, DEFAULTS.imagePrefixes);
        accepted += 1;
        return spec.memoryMb >= 1 && spec.moduleBytes === module.byteLength && spec.minMemoryPages <= spec.memoryMb * PAGES_PER_MIB;
      } catch (err: unknown) {
        return err instanceof HayateError && ['HAYATE_ERR_INVALID_MODULE', 'HAYATE_ERR_INVALID_OPTION', 'HAYATE_ERR_IMAGE_NOT_ALLOWED'].includes(err.code) && err.httpStatus === 400;
      }
    }),
    { numRuns: 3000 },
  );
  t.log(`${accepted} of 3000 deploys accepted`);
  t.true(accepted > 0);
});

test('capModuleMemory returns a valid module within memory_mb when deploy accepts the module', (t) => {
  fc.assert(
    fc.property(anyModule, fc.integer({ min: 1, max: 4096 }), (module, memoryMb) => {
      let shape;
      try {
        shape = inspectModule(module);
      } catch {
        return true; // refused at deploy: never capped
      }
      try {
        const capped = capModuleMemory(module, memoryMb);
        const after = inspectModule(capped);
        return WebAssembly.validate(capped) && after.minMemoryPages === shape.minMemoryPages && after.maxMemoryPages !== null && after.maxMemoryPages <= memoryMb * PAGES_PER_MIB;
      } catch (err: unknown) {
        return err instanceof HayateError && err.code === 'HAYATE_ERR_LIMIT_EXCEEDED' && shape.minMemoryPages > memoryMb * PAGES_PER_MIB;
      }
    }),
    { numRuns: 1500 },
  );
  t.pass();
});

const segment = fc.oneof(
  fc.constantFrom('upper', 'ghost', '..', '.', '%00', '%ZZ', '%2e%2e', 'a%2Fb', 'Upper', '-x', '', 'x'.repeat(80), '%F0%9F%92%A9'),
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,62}$/),
  fc.fullUnicodeString({ maxLength: 20 }).map(encodeURIComponent),
);
const fnName = fc.oneof({ weight: 3, arbitrary: fc.constant('upper') }, { weight: 3, arbitrary: segment });
const anyMethod = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
/** Mostly the routes' own methods (to reach their handlers), sometimes anything. */
const anyRoute: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 4, arbitrary: fnName.map((n): [string, string] => ['POST', `/v1/functions/${n}/invoke`]) },
  { weight: 3, arbitrary: fnName.map((n): [string, string] => ['PUT', `/v1/functions/${n}`]) },
  { weight: 2, arbitrary: fnName.map((n): [string, string] => ['GET', `/v1/functions/${n}`]) },
  // not upper: the invokes above should keep finding it
  { weight: 1, arbitrary: segment.filter((n) => n !== 'upper').map((n): [string, string] => ['DELETE', `/v1/functions/${n}`]) },
  { weight: 1, arbitrary: segment.map((n): [string, string] => ['GET', `/v1/activations/${n}`]) },
  { weight: 1, arbitrary: fc.constantFrom<[string, string]>(['GET', '/v1/functions'], ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/v1/functions/'], ['GET', '/v1//functions']) },
  { weight: 3, arbitrary: fc.tuple(anyMethod, fc.array(segment, { maxLength: 5 }).map((p) => `/${p.join('/')}`)) },
  { weight: 2, arbitrary: fc.tuple(anyMethod, fnName.map((n) => `/v1/functions/${n}/invoke`)) },
);
const anyQueryString = fc.array(fc.tuple(fc.constantFrom('arg', 'env', 'async', 'timeout_ms', 'memory_mb', 'policy', 'image', 'x'), fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('1', '0', '1e9', '-1', 'K=V'))), { maxLength: 4 }).map((pairs) =>
  pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`,
);
// 'upper.wasm' stands for the module, so that a counterexample prints short
const anyBody = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 2048 }) }, { weight: 1, arbitrary: fc.constant('upper.wasm' as const) });
const anyHeaders = fc.record(
  {
    'content-type': fc.constantFrom('application/wasm', 'application/octet-stream', 'application/json', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=x', '', 'x/y; q=\u00ff'),
    prefer: fc.constantFrom('respond-async', 'return=minimal', ''),
    authorization: fc.constantFrom('Bearer x', 'Basic', ''),
  },
  { requiredKeys: [] },
);

test('HTTP routes answer every random request with a typed status and never a 500', async (t) => {
  const { app, serverErrors } = t.context;
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(anyRoute, anyQueryString, anyHeaders, anyBody, async ([method, path], query, headers, body) => {
      const withBody = method === 'PUT' || method === 'POST' || method === 'PATCH';
      const res = await app.inject({ method: method as 'GET', url: `${path}${query}`, headers, ...(withBody ? { payload: body === 'upper.wasm' ? UPPER : Buffer.from(body) } : {}) });
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500 && res.statusCode !== 503 && res.statusCode !== 504) return false;
      if (res.statusCode < 400 || method === 'HEAD') return res.statusCode >= 200;
      const error = (JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } }).error;
      return isErrorCode(error?.code) && ERRORS[error.code].httpStatus === res.statusCode && typeof error.message === 'string' && error.message.length > 0;
    }),
    { numRuns: 2000 },
  );
  t.log(`statuses: ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`);
  t.deepEqual(serverErrors, [], 'the controller logged no failure of its own');
  t.true((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0);
});

const token = fc.oneof(fc.constantFrom('upper', 'ghost', 'Upper', 'a_b', '-x', 'x'.repeat(70), 'é'), fc.stringMatching(/^[A-Za-z0-9_~!@#$%^&()=+\-]{1,20}$/));

test('every NATS subject answers random messages with a typed reply when sent bytes, headers and tokens', async (t) => {
  const { nc, invokers } = t.context.cluster;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('invoke', 'call', 'status'), token, fc.uint8Array({ maxLength: 512 }), fc.dictionary(fc.constantFrom('Hayate-Invocation-Id', 'Hayate-Arg', 'Hayate-Deadline', 'Hayate-Attempt', 'Hayate-Progress', 'X-Other'), fc.stringMatching(/^[ -~]{0,20}$/), { maxKeys: 3 }), async (kind, fn, data, hdrs) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
      const subject = kind === 'status' ? 'hayate.v1.status' : `hayate.v1.${kind}.${fn}`;
      const msg = await nc.request(subject, data, { timeout: 10_000, headers: h, noMux: true });
      if (kind === 'status') return decodeInvokerStatus(msg.data).invokerId === invokers[0]?.id;
      // a Hayate-Progress header asks for beats: the first message may be one, typed by that header
      if (msg.headers?.get('Hayate-Progress') === 'beat') return msg.data.byteLength === 0;
      if (kind === 'invoke') {
        const r = decodeInvokeResponse(msg.data);
        return r.status === 'OK' ? fn === 'upper' : isErrorCode(r.errorCode) && ERRORS[r.errorCode].status === r.status;
      }
      const status = msg.headers?.get('Hayate-Status') ?? '';
      return status === 'OK' || (isErrorCode(msg.headers?.get('Hayate-Error-Code')) && msg.headers?.get('Nats-Service-Error-Code') !== '');
    }),
    { numRuns: 800 },
  );
  t.pass();
});

test('the invoker goes on serving when random bytes are queued on the async subjects', async (t) => {
  const { nc, invokers } = t.context.cluster;
  const js = nc.jetstream();
  await fc.assert(
    fc.asyncProperty(token, fc.uint8Array({ maxLength: 256 }), async (fn, data) => {
      const ack = await js.publish(`hayate.v1.async.${fn}`, data);
      return ack.seq > 0;
    }),
    { numRuns: 200 },
  );
  // random names include `upper`: its queued activations may keep the invoker busy a while (an answer of
  // OVERLOADED), which is serving; what must not happen is an invoker that stopped answering or died
  const end = Date.now() + 20_000;
  const callUpper = () => nc.request('hayate.v1.call.upper', Buffer.from('after garbage'), { timeout: 10_000 });
  let r = await callUpper();
  while (r.headers?.get('Hayate-Status') !== 'OK' && Date.now() < end) {
    await sleep(200);
    r = await callUpper();
  }
  t.is(Buffer.from(r.data).toString(), 'AFTER GARBAGE', `${r.headers?.get('Hayate-Status')} ${r.headers?.get('Hayate-Error-Code')}`);
  const status = decodeInvokerStatus((await nc.request('hayate.v1.status', new Uint8Array(0), { timeout: 5000 })).data);
  t.is(status.pid, invokers[0]?.pid ?? -1);
});
