/**
 * Async invocations at the controller (SPEC §5, §7): `POST /v1/functions/{name}/invoke` with
 * `Prefer: respond-async` or `?async=1` stores a `queued` activation record, puts the request on the
 * JetStream work queue and answers 202 `{"id"}` with `Location: /v1/activations/{id}` once JetStream has
 * confirmed it; `GET /v1/activations/{id}` reads the record.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ActivationStore } from '../common/activations';
import { queuedActivation } from '../common/activations';
import type { AsyncQueue } from '../common/async-queue';
import type { Activation, InvokeRequest } from '../common/codec';
import { ActivationState } from '../common/codec';
import type { Config } from '../common/config';
import { HayateError } from '../common/errors';
import type { FunctionName } from '../common/names';
import { newInvocationId, parseInvocationId } from '../common/names';
import { withNatsRetry } from '../common/nats-retry';
import type { FunctionStore } from '../common/store';

export interface AsyncInvokeDeps {
  store: FunctionStore;
  queue: AsyncQueue;
  activations: ActivationStore;
  config: Readonly<Config>;
}

/** What the caller asked for: the function, its stdin, args and timeout. */
export interface AsyncInvokeInput {
  fn: FunctionName;
  input: Uint8Array;
  args: string[];
  timeoutMs: number;
}

/** True when the request asks for an async invocation (`?async=1|true` or `Prefer: respond-async`). */
export function wantsAsync(req: FastifyRequest<{ Querystring: Record<string, unknown> }>): boolean {
  const flag = req.query['async'];
  if (flag === '1' || flag === 'true' || flag === '') return true;
  const prefer = req.headers['prefer'];
  const values = Array.isArray(prefer) ? prefer : prefer === undefined ? [] : [prefer];
  return values.some((v) => v.split(',').some((token) => token.trim().toLowerCase() === 'respond-async'));
}

/**
 * Queues an invocation; answers 202 with its activation id.
 * @throws HayateError HAYATE_ERR_NOT_FOUND when the function is not deployed, HAYATE_ERR_UNAVAILABLE when
 *   JetStream did not take the request (the record then says `failed` with the reason)
 */
export async function invokeAsync(deps: AsyncInvokeDeps, call: AsyncInvokeInput, reply: FastifyReply): Promise<FastifyReply> {
  const { store, queue, activations, config } = deps;
  if ((await withNatsRetry(`read function ${call.fn}`, () => store.getSpec(call.fn))) === null) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot invoke function ${call.fn} as it is not deployed`);
  const id = newInvocationId();
  const now = Date.now();
  const deadline = now + config.asyncDeadlineMs;
  const request: InvokeRequest = { invocationId: id, function: call.fn, input: call.input, args: call.args, env: {}, timeoutMs: call.timeoutMs, deadlineUnixMs: deadline, attempt: 0 };
  // the record first, so that a GET right after the 202 (or an invoker that is quick) finds it
  await activations.create(queuedActivation(id, call.fn, queue.maxAttempts, deadline, now));
  try {
    await queue.enqueue(request);
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    await activations
      .update(id, (cur) => (cur === null ? null : { ...cur, state: ActivationState.failed, errorCode: 'HAYATE_ERR_UNAVAILABLE', reason, finishedUnixMs: Date.now() }))
      .catch(() => null);
    throw err;
  }
  reply.header('Location', `/v1/activations/${id}`);
  return reply.code(202).send({ id });
}

/**
 * The activation record of `id` as JSON.
 * @throws HayateError HAYATE_ERR_ACTIVATION_NOT_FOUND when there is none (never made, or past its TTL)
 */
export async function readActivation(activations: ActivationStore, rawId: string): Promise<Record<string, unknown>> {
  let id;
  try {
    id = parseInvocationId(rawId);
  } catch {
    throw new HayateError('HAYATE_ERR_ACTIVATION_NOT_FOUND', `Activation ${JSON.stringify(rawId)} does not exist: ids are 1-64 chars of [A-Za-z0-9_-]`);
  }
  const a = await activations.get(id);
  if (a === null) throw new HayateError('HAYATE_ERR_ACTIVATION_NOT_FOUND', `Activation ${id} does not exist (or is older than its TTL)`);
  return activationView(a);
}

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);
const millis = (us: number): number => Math.round(us) / 1000;

/** The JSON form of a record (snake_case, like the rest of the API). */
export function activationView(a: Activation): Record<string, unknown> {
  const output = Buffer.from(a.output);
  const text = output.toString('utf8');
  const finished = a.state === ActivationState.succeeded || a.state === ActivationState.failed;
  return {
    id: a.activationId,
    function: a.function,
    state: a.state,
    ...(a.reason !== '' ? { reason: a.reason } : {}),
    ...(a.errorCode !== '' ? { error: { code: a.errorCode, message: a.reason } } : {}),
    attempts: a.attempts,
    max_attempts: a.maxAttempts,
    ...(finished
      ? {
          status: a.status,
          exit_code: a.exitCode,
          // stdout as text when it is UTF-8, and always as base64 for binary outputs
          output: Buffer.from(text, 'utf8').equals(output) ? text : null,
          output_base64: output.toString('base64'),
          stderr: Buffer.from(a.stderr).toString('utf8'),
          tier: a.tier,
          timings_ms: { queue: millis(a.timings.queueUs), startup: millis(a.timings.startupUs), exec: millis(a.timings.execUs), teardown: millis(a.timings.teardownUs), total: millis(a.timings.totalUs) },
        }
      : {}),
    invoker: a.invokerId || null,
    created_at: iso(a.createdUnixMs),
    started_at: iso(a.startedUnixMs),
    finished_at: iso(a.finishedUnixMs),
    deadline_at: iso(a.deadlineUnixMs),
  };
}
