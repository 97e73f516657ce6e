/**
 * The one registry of hayate's error codes. Every error that crosses a process boundary (HTTP, NATS)
 * is a `HayateError` with one of these codes; receivers rebuild errors by code, never by `instanceof`.
 * README's error table is checked against this registry by `test/errors.test.ts`.
 */

/** Protobuf `hayate.v1.Status` names, mapped to numbers by the codec. */
export const StatusName = {
  OK: 'OK',
  FUNCTION_ERROR: 'FUNCTION_ERROR',
  TIMEOUT: 'TIMEOUT',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  NOT_FOUND: 'NOT_FOUND',
  BAD_REQUEST: 'BAD_REQUEST',
  OVERLOADED: 'OVERLOADED',
  INTERNAL: 'INTERNAL',
} as const;
export type StatusName = (typeof StatusName)[keyof typeof StatusName];

interface ErrorDef {
  /** Default message; callers usually pass a specific one with the value that failed. */
  readonly message: string;
  readonly httpStatus: number;
  readonly status: StatusName;
  /** Whether the same request may succeed when sent again (to the same or another invoker). */
  readonly retryable: boolean;
}

/** Every error code hayate emits. Keep README's "Errors" table in step (a test checks it). */
export const ERRORS = {
  HAYATE_ERR_BAD_REQUEST: { message: 'Bad request', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_INVALID_NAME: { message: 'Invalid function name', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_INVALID_MODULE: { message: 'Invalid WebAssembly module', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_INVALID_OPTION: { message: 'Invalid function option', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_IMAGE_NOT_ALLOWED: { message: 'Docker image not allowed', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_INVALID_BUNDLE: { message: 'Invalid bundle of files', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_UNAUTHORIZED: { message: 'Missing or invalid API key', httpStatus: 401, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_NOT_FOUND: { message: 'Function not found', httpStatus: 404, status: 'NOT_FOUND', retryable: false },
  HAYATE_ERR_ACTIVATION_NOT_FOUND: { message: 'Activation not found', httpStatus: 404, status: 'NOT_FOUND', retryable: false },
  HAYATE_ERR_TRIGGER_NOT_FOUND: { message: 'Trigger not found', httpStatus: 404, status: 'NOT_FOUND', retryable: false },
  HAYATE_ERR_TRIGGER_CONFLICT: { message: 'Trigger conflicts with another', httpStatus: 409, status: 'BAD_REQUEST', retryable: false },
  HAYATE_ERR_BUNDLE_NOT_FOUND: { message: 'Bundle not found', httpStatus: 404, status: 'NOT_FOUND', retryable: false },
  HAYATE_ERR_PAYLOAD_TOO_LARGE: { message: 'Payload too large', httpStatus: 413, status: 'LIMIT_EXCEEDED', retryable: false },
  HAYATE_ERR_FUNCTION_ERROR: { message: 'Function exited with a non-zero code', httpStatus: 502, status: 'FUNCTION_ERROR', retryable: false },
  HAYATE_ERR_FUNCTION_TRAP: { message: 'Function trapped', httpStatus: 502, status: 'FUNCTION_ERROR', retryable: false },
  // not retryable: the function's calls killed the workers running them; a redeploy lifts it (SPEC §7)
  HAYATE_ERR_QUARANTINED: { message: 'Function quarantined', httpStatus: 502, status: 'FUNCTION_ERROR', retryable: false },
  HAYATE_ERR_LIMIT_EXCEEDED: { message: 'Function exceeded a limit', httpStatus: 502, status: 'LIMIT_EXCEEDED', retryable: false },
  HAYATE_ERR_TIMEOUT: { message: 'Function timed out', httpStatus: 504, status: 'TIMEOUT', retryable: false },
  HAYATE_ERR_DEADLINE_EXCEEDED: { message: 'Request deadline passed before it could run', httpStatus: 504, status: 'TIMEOUT', retryable: false },
  HAYATE_ERR_OVERLOADED: { message: 'Invoker overloaded', httpStatus: 503, status: 'OVERLOADED', retryable: true },
  HAYATE_ERR_NO_INVOKER: { message: 'No invoker available', httpStatus: 503, status: 'OVERLOADED', retryable: true },
  HAYATE_ERR_CONTAINER_UNAVAILABLE: { message: 'Container tier unavailable', httpStatus: 503, status: 'OVERLOADED', retryable: true },
  HAYATE_ERR_UNAVAILABLE: { message: 'Service unavailable', httpStatus: 503, status: 'OVERLOADED', retryable: true },
  // not retryable: a cut-off site stays cut off for longer than a caller should wait; it says so at once
  HAYATE_ERR_STORE_UNREACHABLE: { message: 'Function store unreachable', httpStatus: 503, status: 'OVERLOADED', retryable: false },
  // CLI only (`hayate build`): a tool is missing (the message names the apt or npm line) or the compiler failed
  HAYATE_ERR_BUILD_FAILED: { message: 'Function build failed', httpStatus: 400, status: 'BAD_REQUEST', retryable: false },
  // not retryable: a fault of hayate itself met by this request would likely meet it again on the next
  // invoker, and re-sending it around the fleet turns one bad request into an outage (a poison pill)
  HAYATE_ERR_INTERNAL: { message: 'Internal error', httpStatus: 500, status: 'INTERNAL', retryable: false },
} as const satisfies Record<string, ErrorDef>;

export type ErrorCode = keyof typeof ERRORS;

/** True when `code` names an entry of the registry. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, code);
}

/**
 * Whether an answer with this code may succeed when the same request is sent again (to the same or another
 * invoker): such answers are failed over by callers and never replayed to a retry. '' (no error) is not.
 */
export function isRetryable(code: ErrorCode | ''): boolean {
  return code !== '' && ERRORS[code].retryable;
}

/** A wire error code decoded into the registry: '' stays '', an unknown code becomes `HAYATE_ERR_INTERNAL`. */
export function errorCodeOf(wire: string): ErrorCode | '' {
  if (wire === '') return '';
  return isErrorCode(wire) ? wire : 'HAYATE_ERR_INTERNAL';
}

/** The error type of hayate: a registry code, a specific message and an optional cause. */
export class HayateError extends Error {
  override readonly name = 'HayateError';
  readonly code: ErrorCode;

  /**
   * @param code a registry code
   * @param message what could not be done and why, with the value; defaults to the registry's text
   * @param options.cause the underlying error
   */
  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
  }

  get httpStatus(): number {
    return ERRORS[this.code].httpStatus;
  }

  get status(): StatusName {
    return ERRORS[this.code].status;
  }

  get retryable(): boolean {
    return ERRORS[this.code].retryable;
  }

  /** The wire form sent across NATS and HTTP. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  /** Rebuilds an error from its wire form; unknown codes become `HAYATE_ERR_INTERNAL`. */
  static fromWire(code: unknown, message: unknown): HayateError {
    const text = typeof message === 'string' && message.length > 0 ? message : undefined;
    return isErrorCode(code) ? new HayateError(code, text) : new HayateError('HAYATE_ERR_INTERNAL', text ?? `Unknown error code ${String(code)}`);
  }
}

/** Wraps anything thrown into a `HayateError` (non-hayate errors become `HAYATE_ERR_INTERNAL`). */
export function toHayateError(err: unknown): HayateError {
  if (err instanceof HayateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HayateError('HAYATE_ERR_INTERNAL', message, { cause: err });
}
