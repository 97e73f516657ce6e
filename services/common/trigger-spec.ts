/**
 * Triggers (SPEC §5, §7): what starts a function other than a call. A trigger has a name (same grammar as a
 * function name), the function it runs, and one source:
 *   - `subject`: every message published on a NATS subject (wildcards allowed) runs the function once;
 *   - `cron`: a cron expression (5 fields, or 6 with seconds; UTC), one run per tick;
 *   - `every`: a fixed period, ticks aligned on multiples of it since the Unix epoch (so every controller
 *     computes the same ticks).
 * Options: `args` added to the function's, `result_subject` where each non-empty output of a successful run
 * is published, `concurrency` (runs in flight across all invokers), `max_age` (a message that waited longer
 * is dropped, counted, and never run).
 */
import { randomBytes } from 'node:crypto';
import { Cron } from 'croner';
import { formatDuration, parseDuration } from './durations';
import { HayateError } from './errors';
import type { FunctionName } from './names';
import { parseFunctionName } from './names';

/** Where a trigger's runs come from. */
export type TriggerSource = { kind: 'subject'; subject: string } | { kind: 'cron'; cron: string } | { kind: 'every'; everyMs: number };

/** A trigger as kept in the KV bucket `hayate_triggers` (JSON). */
export interface TriggerSpec {
  name: FunctionName;
  /** New on every creation: activation ids of a re-created trigger never meet the old ones. */
  uid: string;
  function: FunctionName;
  source: TriggerSource;
  args: string[];
  /** '' = outputs are not published. */
  resultSubject: string;
  /** Runs in flight across every invoker (the consumer's max_ack_pending). */
  concurrency: number;
  /** 0 = messages wait as long as needed. */
  maxAgeMs: number;
  createdUnixMs: number;
}

/** Defaults of trigger options. */
export const TRIGGER_DEFAULTS = Object.freeze({ concurrency: 16, maxConcurrency: 10_000 });

const TOKEN = /^[^\s.*>]+$/;

/** The tokens of a subject that may hold wildcards (`*` a token, `>` the last one). */
function tokensOf(subject: string, what: string): string[] {
  const tokens = subject.split('.');
  tokens.forEach((t, i) => {
    if (t === '*' || (t === '>' && i === tokens.length - 1) || TOKEN.test(t)) return;
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${what} ${JSON.stringify(subject)}: tokens are joined by "." and are "*", a last ">", or text without spaces and wildcards`);
  });
  return tokens;
}

/** True when some concrete subject matches both patterns. */
export function subjectsOverlap(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; ; i += 1) {
    const p = x[i];
    const q = y[i];
    if (p === undefined || q === undefined) return p === q;
    if (p === '>' || q === '>') return true;
    if (p !== '*' && q !== '*' && p !== q) return false;
  }
}

/**
 * Checks a subject a trigger listens on.
 * @param prefix hayate's subject prefix: a trigger may not capture hayate's own subjects
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when malformed, a system subject, or one of hayate's
 */
export function parseTriggerSubject(subject: string, prefix: string): string {
  tokensOf(subject, 'subject');
  if (subject.startsWith('$') || subject.startsWith('_INBOX.') || subject === '>' || subjectsOverlap(subject, `${prefix}.>`)) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid subject ${JSON.stringify(subject)}: a trigger cannot capture system subjects ($…, _INBOX…) or hayate's own (${prefix}.>)`);
  }
  return subject;
}

/** Parses a cron expression (5 fields, or 6 with seconds), read in UTC. */
export function cronOf(expression: string): Cron {
  try {
    return new Cron(expression, { paused: true, timezone: 'UTC' });
  } catch (err: unknown) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid cron ${JSON.stringify(expression)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The body of `PUT /v1/triggers/{name}` (snake_case, like the rest of the API). */
export interface TriggerBody {
  function?: unknown;
  subject?: unknown;
  cron?: unknown;
  every?: unknown;
  args?: unknown;
  result_subject?: unknown;
  concurrency?: unknown;
  max_age?: unknown;
}

function durationOf(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string') return parseDuration(value, what);
  throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${what} ${JSON.stringify(value)}: expected a duration such as "30s" or milliseconds`);
}

function sourceOf(body: TriggerBody, prefix: string): TriggerSource {
  const given = (['subject', 'cron', 'every'] as const).filter((k) => body[k] !== undefined);
  if (given.length !== 1) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Cannot make trigger: give exactly one of subject, cron, every (got ${given.length === 0 ? 'none' : given.join(', ')})`);
  if (typeof body.subject === 'string') return { kind: 'subject', subject: parseTriggerSubject(body.subject, prefix) };
  if (typeof body.cron === 'string') {
    cronOf(body.cron);
    return { kind: 'cron', cron: body.cron };
  }
  if (body.every !== undefined) {
    const everyMs = durationOf(body.every, 'every');
    if (everyMs < 1000) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid every ${JSON.stringify(body.every)}: the shortest period is 1s`);
    return { kind: 'every', everyMs };
  }
  throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Cannot make trigger: subject and cron must be strings');
}

/**
 * Builds a trigger from a request body; `uid` and `createdUnixMs` are kept from `previous` when given.
 * @throws HayateError HAYATE_ERR_INVALID_NAME, HAYATE_ERR_INVALID_OPTION naming the bad value
 */
export function buildTrigger(name: string, body: TriggerBody, prefix: string, previous: TriggerSpec | null = null): TriggerSpec {
  const trigger = parseFunctionName(name);
  const fn = parseFunctionName(body.function);
  const source = sourceOf(body, prefix);
  const args = body.args === undefined ? [] : body.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' && !a.includes('\0'))) throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Invalid args: expected an array of strings without NUL');
  let resultSubject = '';
  if (body.result_subject !== undefined && body.result_subject !== '') {
    if (typeof body.result_subject !== 'string' || tokensOf(body.result_subject, 'result_subject').some((t) => t === '*' || t === '>')) {
      throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid result_subject ${JSON.stringify(body.result_subject)}: expected a subject without wildcards`);
    }
    if (source.kind === 'subject' && subjectsOverlap(source.subject, body.result_subject)) {
      throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid result_subject ${body.result_subject}: the trigger's own subject ${source.subject} matches it, so every output would trigger it again`);
    }
    resultSubject = body.result_subject;
  }
  const concurrency = body.concurrency === undefined ? TRIGGER_DEFAULTS.concurrency : Number(body.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > TRIGGER_DEFAULTS.maxConcurrency) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid concurrency ${JSON.stringify(body.concurrency)}: expected an integer in [1, ${TRIGGER_DEFAULTS.maxConcurrency}]`);
  }
  const maxAgeMs = body.max_age === undefined ? 0 : durationOf(body.max_age, 'max_age');
  return {
    name: trigger,
    uid: previous?.uid ?? randomBytes(6).toString('hex'),
    function: fn,
    source,
    args: args as string[],
    resultSubject,
    concurrency,
    maxAgeMs,
    createdUnixMs: previous?.createdUnixMs ?? Date.now(),
  };
}

/** The JSON form of a trigger's spec. */
export function triggerView(t: TriggerSpec): Record<string, unknown> {
  const source = t.source;
  return {
    name: t.name,
    function: t.function,
    kind: source.kind,
    ...(source.kind === 'subject' ? { subject: source.subject } : source.kind === 'cron' ? { cron: source.cron } : { every: formatDuration(source.everyMs), every_ms: source.everyMs }),
    args: t.args,
    ...(t.resultSubject !== '' ? { result_subject: t.resultSubject } : {}),
    concurrency: t.concurrency,
    ...(t.maxAgeMs > 0 ? { max_age: formatDuration(t.maxAgeMs), max_age_ms: t.maxAgeMs } : {}),
    uid: t.uid,
    created_at: new Date(t.createdUnixMs).toISOString(),
  };
}

/** Decodes a spec read from the KV bucket. @throws HayateError HAYATE_ERR_INTERNAL when it is not one */
export function decodeTrigger(data: Uint8Array): TriggerSpec {
  try {
    const t = JSON.parse(new TextDecoder().decode(data)) as TriggerSpec;
    parseFunctionName(t.name);
    parseFunctionName(t.function);
    return t;
  } catch (err: unknown) {
    throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot read a stored trigger: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** The bytes kept in the KV bucket. */
export function encodeTrigger(t: TriggerSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(t));
}

/**
 * The activation id of the message at `seq` of a trigger's stream: the same for every delivery of it, and
 * different for a re-created trigger (its uid), so the activation records make each message run once.
 */
export function triggerActivationId(t: Pick<TriggerSpec, 'name' | 'uid'>, seq: number): string {
  return `t-${t.uid}-${seq}`;
}
