/**
 * The two shapes of an invoker's answer: the result of a run (`answerOf`), and a refusal or failure before
 * or around one (`refusalOf`). Pure: counting and logging stay with the caller.
 */
import type { InvokeRequest, InvokeResponse } from '../common/codec';
import { Tier } from '../common/codec';
import { HayateError } from '../common/errors';
import type { ExecutionResult } from './executor';

const EMPTY = new Uint8Array(0);

/** Microseconds from `fromMs` (a `performance.now()` time) to now. */
export const microsSince = (fromMs: number): number => Math.max(0, Math.round((performance.now() - fromMs) * 1000));

/** The error a run's outcome means, or null when it exited 0. */
function errorOf(fn: string, result: ExecutionResult): { error: HayateError | null; exitCode: number } {
  const o = result.outcome;
  switch (o.kind) {
    case 'exited':
      return { exitCode: o.exitCode, error: o.exitCode === 0 ? null : new HayateError('HAYATE_ERR_FUNCTION_ERROR', `Function ${fn} exited with code ${o.exitCode}`) };
    case 'trapped':
      return { exitCode: -1, error: new HayateError('HAYATE_ERR_FUNCTION_TRAP', `Function ${fn} trapped: ${o.message}`) };
    case 'timeout':
      return { exitCode: -1, error: new HayateError('HAYATE_ERR_TIMEOUT', `Function ${fn} did not finish within its timeout`) };
    case 'output-limit':
      return { exitCode: -1, error: new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Function ${fn} wrote more than max_output_bytes to ${o.stream}`) };
    case 'memory-limit':
      return { exitCode: -1, error: new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Function ${fn} ran out of memory: ${o.message}`) };
    default: {
      const never: never = o;
      throw new HayateError('HAYATE_ERR_INTERNAL', `Unknown outcome ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The answer to a request that ran.
 * @param receivedMs when the invoker received the request (`performance.now()`)
 * @param startMs when the run started, past the gate
 */
export function answerOf(request: InvokeRequest, result: ExecutionResult, invokerId: string, receivedMs: number, startMs: number): InvokeResponse {
  const { error, exitCode } = errorOf(request.function, result);
  return {
    invocationId: request.invocationId,
    status: error?.status ?? 'OK',
    exitCode,
    output: result.outcome.kind === 'output-limit' ? EMPTY : result.stdout,
    stderr: result.stderr,
    tier: result.tier,
    invokerId,
    coldStart: result.coldStart,
    timings: {
      queueUs: Math.max(0, Math.round((startMs - receivedMs) * 1000)),
      startupUs: result.startupUs,
      execUs: result.execUs,
      teardownUs: result.teardownUs,
      totalUs: microsSince(receivedMs),
    },
    errorCode: error?.code ?? '',
    errorMessage: error?.message ?? '',
    attempt: request.attempt,
  };
}

/** The answer to a request that could not run (malformed, refused, overloaded, failed around the run). */
export function refusalOf(request: InvokeRequest | null, err: HayateError, invokerId: string, receivedMs: number): InvokeResponse {
  return {
    invocationId: request?.invocationId ?? '',
    status: err.status,
    exitCode: -1,
    output: EMPTY,
    stderr: EMPTY,
    tier: Tier.wasm,
    invokerId,
    coldStart: false,
    timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: microsSince(receivedMs) },
    errorCode: err.code,
    errorMessage: err.message,
    attempt: request?.attempt ?? 0,
  };
}
