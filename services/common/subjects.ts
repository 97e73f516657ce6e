/**
 * Every NATS subject and queue group hayate uses. No other module writes subject strings.
 *
 * Grammar (prefix defaults to `hayate`, itself one or more `[A-Za-z0-9_-]` tokens joined by `.`):
 *   <prefix>.v1.invoke.<fn>     protobuf InvokeRequest → InvokeResponse     (queue group hayate-invokers)
 *   <prefix>.v1.call.<fn>       raw stdin → raw stdout, status in headers     (queue group hayate-invokers)
 *   <prefix>.v1.async.<fn>      protobuf InvokeRequest, JetStream work queue  (no reply)
 *   <prefix>.v1.status          empty → protobuf InvokerStatus               (every invoker answers)
 * where <fn> is a FunctionName (`[a-z0-9][a-z0-9-]{0,62}`), so it is always exactly one token.
 */
import { HayateError } from './errors';
import type { FunctionName } from './names';
import { parseFunctionName } from './names';

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Queue group shared by every invoker, so each request reaches one of them. */
export const INVOKER_QUEUE = 'hayate-invokers';
/** Name of the NATS micro service the invokers register. */
export const INVOKER_SERVICE = 'hayate-invoker';
/** JetStream KV bucket of function specs. */
export const FUNCTIONS_BUCKET = 'hayate_functions';
/** JetStream Object Store bucket of modules, keyed by sha256 hex digest. */
export const MODULES_BUCKET = 'hayate_modules';
/** JetStream KV bucket of activation records. */
export const ACTIVATIONS_BUCKET = 'hayate_activations';

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
    return `${this.prefix.replace(/[.]/g, '_').toUpperCase()}_ASYNC`;
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
