/**
 * Every NATS subject and queue group hayate uses. No other module writes subject strings.
 *
 * Grammar (prefix defaults to `hayate`, itself one or more `[A-Za-z0-9_-]` tokens joined by `.`):
 *   <prefix>.v1.invoke.<fn>     protobuf InvokeRequest → InvokeResponse     (queue group hayate-invokers)
 *   <prefix>.v1.call.<fn>       raw stdin → raw stdout, status in headers     (queue group hayate-invokers)
 *   <prefix>.v1.async.<fn>      protobuf InvokeRequest, JetStream work queue  (no reply)
 *   <prefix>.v1.status          empty → protobuf InvokerStatus               (every invoker answers)
 *   <prefix>.v1.answer.<id>     empty → `ack`, beats, then protobuf InvokeResponse: "who holds the answer of
 *                               invocation <id>?", asked by an invoker given a retry (every invoker listens)
 *   <prefix>.v1.logs.<fn>       JSON log entries (stderr lines, one summary per invocation), published by invokers
 *   <prefix>.v1.tick.<trigger>  one message per schedule tick, published by controllers (Nats-Msg-Id dedup)
 *   <prefix>.v1.deployed.<fn>   protobuf DeployNotice, published by the controller once a deploy is stored and
 *                               before it answers (every invoker listens: spec and small module ahead of the watch)
 * where <fn> is a FunctionName (`[a-z0-9][a-z0-9-]{0,62}`) and <id> an InvocationId (`[A-Za-z0-9_-]{1,64}`),
 * so each is always exactly one token; <trigger> is a trigger name, same grammar as a function name.
 * JetStream names: stream `<PREFIX>_ASYNC` on `<prefix>.v1.async.>`, its durable consumer `hayate-invokers`,
 * stream `<PREFIX>_LOGS` on `<prefix>.v1.logs.>`, one stream `<PREFIX>_TRIGGER_<trigger>` per trigger (on the
 * trigger's own subject, or on `<prefix>.v1.tick.<trigger>` for a schedule) with its durable consumer
 * `hayate-invokers`, and the server's advisory
 *   $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>
 */
import { HayateError } from './errors';
import type { FunctionName, InvocationId } from './names';
import { parseFunctionName, parseInvocationId } from './names';

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Queue group shared by every invoker, so each request reaches one of them. */
export const INVOKER_QUEUE = 'hayate-invokers';
/** Name of the NATS micro service the invokers register. */
export const INVOKER_SERVICE = 'hayate-invoker';
/** JetStream KV bucket of function specs. */
export const FUNCTIONS_BUCKET = 'hayate_functions';
/** JetStream Object Store bucket of modules, keyed by sha256 hex digest. */
export const MODULES_BUCKET = 'hayate_modules';
/** JetStream Object Store bucket of function bundles (tars of files), keyed by sha256 hex digest. */
export const BUNDLES_BUCKET = 'hayate_bundles';
/**
 * Subject of an object's chunks in a JetStream Object Store (nats.js' layout: `$O.<bucket>.C.<nuid>`), for
 * writing and reading them without the library's JavaScript SHA-256 (see BundleStore).
 */
export function objectChunksSubject(bucket: string, nuid: string): string {
  return `$O.${bucket}.C.${nuid}`;
}

/** Subject of an object's metadata in a JetStream Object Store (`$O.<bucket>.M.<name in padded base64url>`). */
export function objectMetaSubject(bucket: string, name: string): string {
  return `$O.${bucket}.M.${Buffer.from(name, 'latin1').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
}
/** JetStream KV bucket of activation records. */
export const ACTIVATIONS_BUCKET = 'hayate_activations';
/** Durable pull consumer of the async stream, shared by every invoker (a work queue). */
export const ASYNC_CONSUMER = 'hayate-invokers';
/** JetStream KV bucket of trigger specs. */
export const TRIGGERS_BUCKET = 'hayate_triggers';
/** JetStream KV bucket of per-invoker trigger counters (invoked, failed, dropped). */
export const TRIGGER_STATS_BUCKET = 'hayate_trigger_stats';
/** Durable pull consumer of each trigger's stream, shared by every invoker. */
export const TRIGGER_CONSUMER = 'hayate-invokers';

/** The subject kinds a function has. */
export const FunctionSubjectKind = { invoke: 'invoke', call: 'call', async: 'async' } as const;
export type FunctionSubjectKind = (typeof FunctionSubjectKind)[keyof typeof FunctionSubjectKind];

/** Builds and parses the subjects under one validated prefix. */
export class Subjects {
  readonly prefix: string;

  /**
   * @param prefix subject prefix @default 'hayate'
   * @throws HayateError HAYATE_ERR_INVALID_OPTION when the prefix holds wildcards, spaces or empty tokens
   */
  constructor(prefix = 'hayate') {
    if (!PREFIX.test(prefix)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid subject prefix ${JSON.stringify(prefix)}: it must be tokens of [A-Za-z0-9_-] joined by "."`);
    this.prefix = prefix;
  }

  /** `<prefix>.v1.<kind>.<fn>` */
  fn(kind: FunctionSubjectKind, fn: FunctionName): string {
    return `${this.prefix}.v1.${kind}.${parseFunctionName(fn)}`;
  }

  /** `<prefix>.v1.<kind>.*`: what invokers subscribe to. */
  allFunctions(kind: FunctionSubjectKind): string {
    return `${this.prefix}.v1.${kind}.*`;
  }

  /** `<prefix>.v1.status` */
  status(): string {
    return `${this.prefix}.v1.status`;
  }

  /** Name of the JetStream stream that holds async invocations. */
  asyncStream(): string {
    return `${this.streamHead()}_ASYNC`;
  }

  /** The prefix as the head of a stream name (no dots). */
  private streamHead(): string {
    return this.prefix.replace(/[.]/g, '_').toUpperCase();
  }

  /** `<prefix>.v1.async.>`: the subjects of the async stream. */
  asyncStreamSubjects(): string {
    return `${this.prefix}.v1.async.>`;
  }

  /** The server's advisory when a message of the async stream reached the consumer's max_deliver. */
  asyncMaxDeliveriesAdvisory(): string {
    return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.asyncStream()}.${ASYNC_CONSUMER}`;
  }

  /**
   * `<prefix>.v1.answer.<id>`
   * @throws HayateError HAYATE_ERR_BAD_REQUEST when `id` is not a valid invocation id
   */
  answer(id: InvocationId | string): string {
    return `${this.prefix}.v1.answer.${parseInvocationId(id)}`;
  }

  /** `<prefix>.v1.answer.*`: what every invoker listens on. */
  allAnswers(): string {
    return `${this.prefix}.v1.answer.*`;
  }

  /** `<prefix>.v1.logs.<fn>`: where invokers publish a function's log entries. */
  logs(fn: FunctionName | string): string {
    return `${this.prefix}.v1.logs.${parseFunctionName(fn)}`;
  }

  /** `<prefix>.v1.logs.>`: every function's log entries (the subjects of the logs stream). */
  allLogs(): string {
    return `${this.prefix}.v1.logs.>`;
  }

  /** Name of the JetStream stream that keeps recent log entries. */
  logsStream(): string {
    return `${this.streamHead()}_LOGS`;
  }

  /** `<prefix>.v1.deployed.<fn>`: where the controller announces a stored deploy. */
  deployed(fn: FunctionName | string): string {
    return `${this.prefix}.v1.deployed.${parseFunctionName(fn)}`;
  }

  /** `<prefix>.v1.deployed.*`: every deploy notice (what invokers listen on). */
  allDeployed(): string {
    return `${this.prefix}.v1.deployed.*`;
  }

  /** `<prefix>.v1.tick.<trigger>`: where controllers publish the ticks of a schedule trigger. */
  tick(trigger: FunctionName | string): string {
    return `${this.prefix}.v1.tick.${parseFunctionName(trigger)}`;
  }

  /** Name of the JetStream stream a trigger owns (its captured messages or ticks). */
  triggerStream(trigger: FunctionName | string): string {
    return `${this.streamHead()}_TRIGGER_${parseFunctionName(trigger)}`;
  }

  /** The server's advisory when a message of a trigger's stream reached the consumer's max_deliver. */
  triggerMaxDeliveriesAdvisory(trigger: FunctionName | string): string {
    return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.triggerStream(trigger)}.${TRIGGER_CONSUMER}`;
  }

  /** The invocation id of a subject built by `answer(id)`, or null. */
  invocationOfAnswer(subject: string): InvocationId | null {
    const head = `${this.prefix}.v1.answer.`;
    if (!subject.startsWith(head)) return null;
    try {
      return parseInvocationId(subject.slice(head.length));
    } catch {
      return null;
    }
  }

  /**
   * The function token of a subject built by `fn(kind, …)`.
   * @throws HayateError HAYATE_ERR_INVALID_NAME when the subject does not carry a valid function name
   */
  functionOf(kind: FunctionSubjectKind, subject: string): FunctionName {
    const head = `${this.prefix}.v1.${kind}.`;
    const token = subject.startsWith(head) ? subject.slice(head.length) : '';
    return parseFunctionName(token);
  }
}
