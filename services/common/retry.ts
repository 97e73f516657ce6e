/**
 * One way to try a call again: how many tries, how long to keep trying, the wait in between (exponential
 * back-off, capped), which errors are worth another try, and an abort signal that ends the waiting.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** The wait before try n + 1: `initialMs · factor^(n-1)`, at most `maxMs`. */
export interface Backoff {
  /** Wait after the first failed try. */
  initialMs: number;
  /** Growth per failed try. @default 1 (the same wait every time) */
  factor?: number;
  /** Longest wait. @default Infinity */
  maxMs?: number;
}

/** How `retry` tries again. */
export interface RetryOptions {
  /** Wait between tries. */
  backoff: Backoff;
  /** Tries at most (the first one included). @default Infinity (bounded by patienceMs) */
  attempts?: number;
  /** No new try starts when a try fails this long after the first one began. @default Infinity */
  patienceMs?: number;
  /** Whether an error is worth another try; others are thrown at once, as they are. @default every error */
  retryOn?: (err: unknown) => boolean;
  /** Called before each wait (to log, or to keep a lease alive). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /**
   * The error to throw when tries or patience ran out (the last error, the number of tries made).
   * @default the last error, as it is
   */
  exhausted?: (lastError: unknown, attempts: number) => unknown;
  /** Aborting stops the waiting: the abort reason is thrown. */
  signal?: AbortSignal;
}

/**
 * The wait after failed try `attempt` (1-based).
 * @example backoffMs({ initialMs: 50, factor: 2, maxMs: 500 }, 3) === 200
 */
export function backoffMs(backoff: Backoff, attempt: number): number {
  const { initialMs, factor = 1, maxMs = Infinity } = backoff;
  return Math.min(initialMs * factor ** Math.max(0, attempt - 1), maxMs);
}

/**
 * Runs `op` until it resolves, trying again after a back-off while it throws a retryable error.
 * @param op the call; gets the 1-based number of this try
 * @throws the first error `retryOn` refuses; `exhausted(lastError)` (by default the last error) when tries or
 *   patience ran out; the signal's reason when it aborts
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts = Infinity, patienceMs = Infinity, retryOn = () => true, signal } = options;
  const until = Date.now() + patienceMs;
  for (let attempt = 1; ; attempt += 1) {
    signal?.throwIfAborted();
    try {
      return await op(attempt);
    } catch (err: unknown) {
      if (!retryOn(err)) throw err;
      if (attempt >= attempts || Date.now() >= until) throw options.exhausted ? options.exhausted(err, attempt) : err;
      const delay = backoffMs(options.backoff, attempt);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, undefined, signal ? { signal } : undefined).catch((abort: unknown) => {
        throw signal?.reason ?? abort;
      });
    }
  }
}
