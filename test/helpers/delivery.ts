/**
 * Helpers of the delivery tests (SPEC §7): invoker processes the test starts and kills itself, the
 * execution audit they share, and polling.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInvoker } from '../../services/cli/up';
import type { ExecutionRecord } from '../../services/common/execution-record';
import { parseExecutionLog } from '../../services/common/execution-record';

export interface InvokerProcess {
  id: string;
  child: ChildProcess;
}

/**
 * Starts `hayate invoker` against `natsUrl`, logging executions to `executionLog`.
 * @param env extra environment (HAYATE_ASYNC_*, HAYATE_WORKERS…)
 */
export function spawnInvoker(natsUrl: string, id: string, executionLog: string, env: Record<string, string> = {}): Promise<InvokerProcess> {
  return startInvoker(natsUrl, id, [], { ...process.env, HAYATE_LOG_LEVEL: process.env['HAYATE_LOG_LEVEL'] ?? 'warn', HAYATE_EXECUTION_LOG: executionLog, ...env });
}

/** Every record of the execution audit (empty when the file does not exist yet). */
export function executions(file: string): ExecutionRecord[] {
  return existsSync(file) ? parseExecutionLog(readFileSync(file, 'utf8')) : [];
}

/** The `start` records of one invocation. */
export function startsOf(file: string, invocationId: string): ExecutionRecord[] {
  return executions(file).filter((r) => r.invocationId === invocationId && r.event === 'start');
}

/**
 * Polls `probe` until it returns a value other than undefined.
 * @throws Error with `what` when `timeoutMs` passes first
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err: unknown) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`Timed out waiting for ${what}${lastError === null ? '' : ` (last error: ${String(lastError)})`}`);
}
