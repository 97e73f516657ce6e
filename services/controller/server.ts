/**
 * The controller's HTTP API (SPEC §5), on fastify. Stateless: specs and modules live in JetStream, and
 * invocations go to invokers over NATS through the failover client.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { FastifyError, FastifyReply } from 'fastify';
import type { NatsConnection } from 'nats';
import type { ActivationStore } from '../common/activations';
import type { AsyncQueue } from '../common/async-queue';
import type { InvokeResponse } from '../common/codec';
import type { Config } from '../common/config';
import { HayateError, toHayateError } from '../common/errors';
import { Header } from '../common/headers';
import { InvocationClient } from '../common/invocation-client';
import { ModuleWorker } from '../common/module-worker';
import type { Logger } from '../common/logger';
import { newInvocationId, parseFunctionName } from '../common/names';
import type { FunctionStore } from '../common/store';
import { Subjects } from '../common/subjects';
import { invokeAsync, readActivation, wantsAsync } from './async-invoke';
import { announceDeploy } from './deploy-notice';
import { lazyChildLogger } from './lazy-logger';
import { registerBundles } from './bundles';
import { gatherStatus, statusView } from './cluster-status';
import type { DeployQuery } from './deploy-options';
import { buildSpec, specView } from './deploy-options';
import { registerLive } from './live';
import { logRoutes } from './log-routes';
import { ControllerMetrics } from './metrics';
import { triggerRoutes } from './trigger-routes';
import { SpecTimeouts } from './spec-timeouts';
import { registerUi } from './ui';

export interface ControllerDeps {
  nc: NatsConnection;
  store: FunctionStore;
  config: Readonly<Config>;
  log: Logger;
  /** The async work queue and activation records (SPEC §7). */
  queue: AsyncQueue;
  activations: ActivationStore;
}

type NameParams = { Params: { name: string }; Querystring: DeployQuery };

const ms = (us: number): string => (us / 1000).toFixed(3);
/** A body over its limit but declared no larger than this is read to its end before the 413 goes out. */
const DRAIN_MAX_BYTES = 128 * 1024 * 1024;

function sha(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Constant-time check of a Bearer key against the configured keys. */
function authorized(header: string | undefined, keys: readonly Buffer[]): boolean {
  const match = /^Bearer (.+)$/i.exec(header ?? '');
  if (match === null || match[1] === undefined) return false;
  const given = sha(match[1]);
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(given, key) || ok;
  return ok;
}

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function sendError(reply: FastifyReply, err: HayateError, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(err.httpStatus).type('application/json').send({ error: { code: err.code, message: err.message }, ...extra });
}

/** Builds the fastify app (not listening yet). */
export function buildServer(deps: ControllerDeps) {
  const { nc, store, config } = deps;
  const subjects = new Subjects(config.subjectPrefix);
  const client = new InvocationClient(nc, { prefix: config.subjectPrefix, log: deps.log.child({ component: 'invocation-client' }), defaultTimeoutMs: config.functionDefaults.timeoutMs, beatMs: config.beatMs, deadAfterMs: config.deadAfterMs });
  const timeouts = new SpecTimeouts(store, deps.log.child({ component: 'spec-timeouts' }));
  // modules are validated on a worker thread: a large one would hold every other request for a second
  const moduleWorker = new ModuleWorker();
  const metrics = new ControllerMetrics();
  const keys = config.apiKeys.map(sha);
  const app = Fastify({
    loggerInstance: deps.log.child({ component: 'http' }),
    bodyLimit: config.maxModuleBytes,
    // per-request access logs would cost more than a warm invocation; routes log what matters
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    childLoggerFactory: lazyChildLogger,
    // errors fastify answers before routing (a URL that does not decode: /v1/functions/%ZZ) in hayate's form too
    frameworkErrors: (error, _req, reply) => sendError(reply, new HayateError('HAYATE_ERR_BAD_REQUEST', `Cannot serve request: ${error.message}`)),
  });

  // Every body is raw bytes: a module on deploy, the function's stdin on invoke.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (req, reply) => {
    if (keys.length > 0 && req.url.startsWith('/v1/') && !authorized(req.headers.authorization, keys)) {
      return sendError(reply.header('WWW-Authenticate', 'Bearer'), new HayateError('HAYATE_ERR_UNAUTHORIZED', 'Cannot serve request as it carries no valid API key (Authorization: Bearer <key>)'));
    }
    return undefined;
  });

  app.setErrorHandler((error: FastifyError | HayateError, req, reply) => {
    if (error instanceof HayateError) return sendError(reply, error);
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const limit = req.routeOptions.url?.endsWith('/invoke') === true ? 'HAYATE_MAX_REQUEST_MB' : 'HAYATE_MAX_MODULE_MB';
      const tooLarge = new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot accept request body as it is larger than ${req.routeOptions.bodyLimit ?? config.maxModuleBytes} bytes (${limit})`);
      // Read (and drop) the rest of a body of moderate size before answering: closing a connection with
      // unread bytes resets it, and a client still sending (no Expect: 100-continue) then loses the 413.
      const declared = Number(req.headers['content-length']);
      if (req.raw.complete || !(declared <= DRAIN_MAX_BYTES)) return sendError(reply, tooLarge);
      return new Promise<void>((resolve) => {
        req.raw.once('end', resolve).once('error', resolve).once('close', resolve).resume();
      }).then(() => sendError(reply, tooLarge));
    }
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return sendError(reply, new HayateError('HAYATE_ERR_BAD_REQUEST', error.message));
    req.log.error({ err: error }, 'request failed');
    return sendError(reply, toHayateError(error));
  });

  app.setNotFoundHandler((req, reply) => sendError(reply, new HayateError('HAYATE_ERR_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));

  const bundles = registerBundles(app, deps);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const ready = !nc.isClosed() && !nc.isDraining();
    return reply.code(ready ? 200 : 503).send({ ready, nats: nc.getServer() });
  });
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.put<NameParams>('/v1/functions/:name', async (req, reply) => {
    const name = parseFunctionName(req.params.name);
    const body = req.body;
    if (!Buffer.isBuffer(body) || body.byteLength === 0) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as the request has no module in its body (send the .wasm file as application/wasm)');
    const base = buildSpec(name, body, req.query, config.functionDefaults, config.imagePrefixes, await moduleWorker.inspect(body));
    const draft = { ...base, ...(await bundles.filesOf(req.query, base)) };
    const digest = await store.putModule(body);
    const spec = await store.putSpec({ ...draft, digest, version: 0 });
    timeouts.set(name, spec.timeoutMs);
    const readyInvokers = await announceDeploy(nc, subjects, spec, body);
    req.log.info({ fn: name, digest, version: spec.version, bytes: body.byteLength }, 'function deployed');
    // ready_invokers: invokers that had the module compiled and in their workers when it answered (deploy-notice.ts)
    return reply.code(201).send({ ...specView(spec), ready_invokers: readyInvokers });
  });

  app.get('/v1/functions', async () => ({ functions: (await store.listSpecs()).map(specView) }));

  app.get<NameParams>('/v1/functions/:name', async (req) => {
    const name = parseFunctionName(req.params.name);
    const spec = await store.getSpec(name);
    if (spec === null) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Function ${name} is not deployed`);
    return specView(spec);
  });

  app.delete<NameParams>('/v1/functions/:name', async (req, reply) => {
    const name = parseFunctionName(req.params.name);
    if (!(await store.deleteSpec(name))) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot remove function ${name} as it is not deployed`);
    req.log.info({ fn: name }, 'function removed');
    return reply.code(204).send();
  });

  // bytes of the sync calls being relayed (input and as much again for the answer): see Config.maxRelayBytes
  let relaying = 0;
  // an invoke body is a function's stdin: bounded far below a module, so a client cannot make the controller buffer 64 MiB
  app.post<NameParams>('/v1/functions/:name/invoke', { bodyLimit: config.maxRequestBytes }, async (req, reply) => {
    const fn = parseFunctionName(req.params.name);
    const input = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const timeout = req.query['timeout_ms'];
    const asked = typeof timeout === 'string' && /^\d+$/.test(timeout) ? Number(timeout) : 0;
    // wait as long as the function may run (its spec timeout, or less when the caller asks less): the
    // invoker applies the same bound, and the client waits that plus its grace
    const specMs = await timeouts.get(fn);
    const timeoutMs = asked > 0 && (specMs === 0 || asked < specMs) ? asked : specMs;
    const started = performance.now();
    let result;
    // the id is made here, not by the client, so that every log line of this request, here and on the
    // invokers, carries it (`invocationId`)
    const invocationId = newInvocationId();
    const log = lazyChildLogger(req.log, { invocationId, fn });
    const relayBytes = 2 * input.byteLength;
    if (relaying > 0 && relaying + relayBytes > config.maxRelayBytes) {
      throw new HayateError('HAYATE_ERR_OVERLOADED', `Cannot invoke ${fn} now as this controller already relays ${relaying} bytes of calls (max ${config.maxRelayBytes}); try again shortly`);
    }
    relaying += relayBytes;
    try {
      if (wantsAsync(req)) return await invokeAsync(deps, { fn, input, args: list(req.query['arg']), timeoutMs }, reply);
      log.debug({ bytes: input.byteLength }, 'invoke received');
      result = await client.call({ function: fn, input, args: list(req.query['arg']), timeoutMs, invocationId });
    } catch (err: unknown) {
      log.warn({ err }, 'invocation not answered');
      // nats.js refuses messages over the server's max_payload before sending
      if (err instanceof Error && /MAX_PAYLOAD_EXCEEDED/i.test(String((err as { code?: string }).code ?? err.message))) {
        throw new HayateError('HAYATE_ERR_PAYLOAD_TOO_LARGE', `Cannot invoke ${fn} as its input of ${input.byteLength} bytes exceeds the NATS max_payload of ${nc.info?.max_payload ?? 'unknown'} bytes`);
      }
      throw err;
    } finally {
      relaying -= relayBytes;
    }
    const r = result.response;
    metrics.observe(fn, r, result.attempts, (performance.now() - started) / 1000);
    log.debug({ invoker: r.invokerId, status: r.status, tier: r.tier, attempts: result.attempts, totalUs: r.timings.totalUs }, 'invoked');
    setInvocationHeaders(reply, r, result.attempts, result);
    if (r.status === 'OK') return reply.code(200).type('application/octet-stream').send(Buffer.from(r.output));
    const err = HayateError.fromWire(r.errorCode, r.errorMessage);
    return sendError(reply, err, { invocation_id: r.invocationId, exit_code: r.exitCode, stderr: Buffer.from(r.stderr.subarray(0, 4096)).toString('utf8') });
  });

  app.get<{ Params: { id: string } }>('/v1/activations/:id', async (req) => readActivation(deps.activations, req.params.id));

  app.get('/v1/status', async () => statusView(await gatherStatus(nc, subjects)));
  app.register(triggerRoutes({ nc, store, config, log: deps.log, registry: metrics.registry }));
  app.register(logRoutes({ nc, config }));
  registerLive(app, deps);
  registerUi(app, { auth: keys.length > 0 });

  app.addHook('onClose', async () => {
    timeouts.close();
    await moduleWorker.close();
  });

  return { app, client };
}

function setInvocationHeaders(reply: FastifyReply, r: InvokeResponse, attempts: number, failover: { failoverMs: number; detectMs: number }): void {
  const t = r.timings;
  reply.header(Header.tier, r.tier);
  reply.header(Header.invocationId, r.invocationId);
  reply.header(Header.exitCode, String(r.exitCode));
  reply.header(Header.coldStart, String(r.coldStart));
  reply.header(Header.invoker, r.invokerId);
  reply.header(Header.status, r.status);
  reply.header(Header.attempt, String(attempts));
  if (failover.failoverMs > 0) reply.header(Header.failoverMs, String(failover.failoverMs));
  if (failover.detectMs > 0) reply.header(Header.failoverDetectMs, String(failover.detectMs));
  reply.header('Server-Timing', `queue;dur=${ms(t.queueUs)}, startup;dur=${ms(t.startupUs)}, exec;dur=${ms(t.execUs)}, teardown;dur=${ms(t.teardownUs)}, total;dur=${ms(t.totalUs)}`);
}

