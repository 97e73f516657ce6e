/**
 * Retrying JetStream calls through the short outages of a NATS cluster: the server a process is connected to
 * dies (the client reconnects to another within a second) or a stream or the meta group elects a new leader
 * (a few seconds). Meanwhile JetStream API requests fail with "no responders", time out, or answer
 * "temporarily unavailable"; the same call a moment later succeeds.
 */
import { HayateError } from './errors';
import { retry } from './retry';

/** Whether an error is one of those short outages (and not, say, a bad request or a CAS conflict). */
export function isTransientNatsError(err: unknown): boolean {
  // the function store wraps these same outages in its own code (see store.ts)
  if (err instanceof HayateError) return err.code === 'HAYATE_ERR_STORE_UNREACHABLE';
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const message = err instanceof Error ? err.message : String(err);
  if (['503', 'TIMEOUT', '408', 'DISCONNECT', 'CONNECTION_CLOSED', 'CONNECTION_REFUSED', 'CONNECTION_DRAINING', 'REQUEST_ERROR'].includes(code)) return true;
  return /no responders|timeout|timed out|temporarily unavailable|no suitable peers|leader|not current|disconnect|reconnect|stale connection|cluster/i.test(message);
}

/**
 * Runs `op`, again after a short backoff while it fails with a transient NATS error, until `patienceMs`.
 * @param what what the call does, for the error message ("read activation X")
 * @throws HayateError HAYATE_ERR_UNAVAILABLE when NATS stayed unavailable; other errors as `op` threw them
 */
export function withNatsRetry<T>(what: string, op: () => Promise<T>, patienceMs = 10_000): Promise<T> {
  return retry(op, {
    backoff: { initialMs: 50, factor: 2, maxMs: 500 },
    patienceMs,
    retryOn: isTransientNatsError,
    exhausted: (err) => {
      const reason = err instanceof Error ? err.message : String(err);
      return new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot ${what} as NATS JetStream stayed unavailable for ${patienceMs} ms (${reason})`, { cause: err });
    },
  });
}
