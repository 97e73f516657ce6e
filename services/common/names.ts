import { randomFillSync } from 'node:crypto';
import { HayateError } from './errors';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A function name validated against SPEC §4: `[a-z0-9][a-z0-9-]{0,62}`. Made only by `parseFunctionName`. */
export type FunctionName = Brand<string, 'FunctionName'>;
/** An invocation id: 1–64 chars of `[A-Za-z0-9_-]`. Made only by `parseInvocationId` or `newInvocationId`. */
export type InvocationId = Brand<string, 'InvocationId'>;

const FUNCTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const INVOCATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Validates a function name.
 * @throws HayateError HAYATE_ERR_INVALID_NAME when it does not match `[a-z0-9][a-z0-9-]{0,62}`
 */
export function parseFunctionName(value: unknown): FunctionName {
  if (typeof value === 'string' && FUNCTION_NAME.test(value)) return value as FunctionName;
  throw new HayateError('HAYATE_ERR_INVALID_NAME', `Invalid function name ${JSON.stringify(value)}: it must match [a-z0-9][a-z0-9-]{0,62}`);
}

/** True when `value` is a valid function name. */
export function isFunctionName(value: unknown): value is FunctionName {
  return typeof value === 'string' && FUNCTION_NAME.test(value);
}

/**
 * Validates an invocation id.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST when it is not 1–64 chars of `[A-Za-z0-9_-]`
 */
export function parseInvocationId(value: unknown): InvocationId {
  if (typeof value === 'string' && INVOCATION_ID.test(value)) return value as InvocationId;
  throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Invalid invocation id ${JSON.stringify(value)}: it must be 1-64 chars of [A-Za-z0-9_-]`);
}

/** Random bytes drawn 16 at a time for ids, refilled when used up. */
const idBytes = Buffer.alloc(4096);
let idAt = idBytes.length;

/**
 * A fresh random invocation id: 128 random bits in base64url (22 chars of the id alphabet). Made in one
 * piece by Buffer's encoder: `randomUUID()` joins 20 pieces into a rope, which V8 keeps as such, 480 bytes
 * of heap per id (56 once flat) in each of the 100,000 answers an invoker keeps for retries.
 */
export function newInvocationId(): InvocationId {
  if (idAt === idBytes.length) {
    randomFillSync(idBytes);
    idAt = 0;
  }
  idAt += 16;
  return idBytes.toString('base64url', idAt - 16, idAt) as InvocationId;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Validates the args and env a request adds to a function's own, before they reach the program (where a NUL
 * would silently cut a C string and a key with `=` would change another variable).
 * @throws HayateError HAYATE_ERR_BAD_REQUEST naming the first bad value
 */
export function checkArgsAndEnv(args: readonly string[], env: Readonly<Record<string, string>>): void {
  const arg = args.findIndex((a) => a.includes('\0'));
  if (arg >= 0) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Invalid argument ${arg + 1}: arguments cannot contain NUL`);
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_KEY.test(key)) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Invalid environment variable ${JSON.stringify(key)}: names must match [A-Za-z_][A-Za-z0-9_]{0,127}`);
    if (value.includes('\0')) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Invalid environment variable ${key}: values cannot contain NUL`);
  }
}
