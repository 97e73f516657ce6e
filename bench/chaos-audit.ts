/**
 * Counts executions per invocation id from the invokers' shared execution audit (`HAYATE_EXECUTION_LOG`),
 * to measure duplicates honestly: from what invokers actually started, not from what callers saw.
 *
 * - a re-execution is any start of an id after its first;
 * - it is explained by a death when the invoker of the previous start was SIGKILLed after that start (or a
 *   NATS server was killed meanwhile), before answering;
 * - a duplicate execution of a finished invocation is a start of an id after an answer for that id had
 *   already left an invoker (sync reply sent, or activation record stored) — what SPEC §7 forbids.
 */
import type { ExecutionRecord } from '../services/common/execution-record';

/** A kill the chaos program made: an invoker (by id) or a NATS server. */
export interface KillEvent {
  atMs: number;
  kind: 'invoker' | 'nats';
  /** Invoker id or NATS server name. */
  target: string;
}

export interface AuditSummary {
  /** Invocation ids seen in the audit. */
  invocations: number;
  /** `start` lines. */
  executions: number;
  /** Starts after the first, per id. */
  reExecutions: number;
  /** Re-executions whose previous run was on an invoker killed before it answered. */
  afterInvokerDeath: number;
  /** Re-executions with a NATS server killed between the previous start and this one. */
  afterNatsKill: number;
  /** Re-executions with neither explanation (a false failover: a live invoker was taken for dead). */
  unexplained: number;
  /** Starts of an id after an answer for it had left an invoker. */
  duplicatesOfFinished: number;
  /** Ids with a duplicate of a finished invocation (for diagnosis). */
  duplicateIds: string[];
  /**
   * Per re-execution after an invoker death where the next attempt (attempt + 1) is the one that ran: ms from
   * the kill to that start on another invoker. (When the next attempt went to an invoker that died too before
   * starting it, the audit cannot tell when it was sent; the callers' detection time covers those.)
   */
  restartAfterKillMs: number[];
}

/**
 * @param records the audit, in file order (= the order the kernel appended them)
 * @param kills the kills made during the run
 * @param ids restrict to these invocation ids (the ones this run sent)
 */
export function analyseAudit(records: readonly ExecutionRecord[], kills: readonly KillEvent[], ids?: ReadonlySet<string>): AuditSummary {
  const byId = new Map<string, ExecutionRecord[]>();
  for (const r of records) {
    if (ids !== undefined && !ids.has(r.invocationId)) continue;
    let list = byId.get(r.invocationId);
    if (list === undefined) byId.set(r.invocationId, (list = []));
    list.push(r);
  }
  const summary: AuditSummary = { invocations: byId.size, executions: 0, reExecutions: 0, afterInvokerDeath: 0, afterNatsKill: 0, unexplained: 0, duplicatesOfFinished: 0, duplicateIds: [], restartAfterKillMs: [] };
  for (const [id, list] of byId) {
    let answered = false;
    let previous: ExecutionRecord | null = null;
    for (const r of list) {
      if (r.event === 'answer') {
        answered = true;
        continue;
      }
      summary.executions += 1;
      if (answered) {
        summary.duplicatesOfFinished += 1;
        if (!summary.duplicateIds.includes(id)) summary.duplicateIds.push(id);
      }
      if (previous !== null) {
        summary.reExecutions += 1;
        const prev = previous;
        const death = kills.find((k) => k.kind === 'invoker' && k.target === prev.invokerId && k.atMs >= prev.atMs && k.atMs <= r.atMs);
        if (death !== undefined) {
          summary.afterInvokerDeath += 1;
          if (r.attempt === prev.attempt + 1) summary.restartAfterKillMs.push(r.atMs - death.atMs);
        } else if (kills.some((k) => k.kind === 'nats' && k.atMs >= prev.atMs - 2000 && k.atMs <= r.atMs)) {
          summary.afterNatsKill += 1;
        } else {
          summary.unexplained += 1;
        }
      }
      previous = r;
    }
  }
  return summary;
}
