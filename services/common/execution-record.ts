/**
 * The execution audit's line format (written by the invoker's `ExecutionLog`, read by the chaos suite and
 * the delivery tests): `<unix ms> <event> <invocation id> <attempt> <invoker id>`, event = `start` | `answer`.
 */

/** Events of the audit. */
export const ExecutionEvent = { start: 'start', answer: 'answer' } as const;
export type ExecutionEvent = (typeof ExecutionEvent)[keyof typeof ExecutionEvent];

/** One parsed line of the audit. */
export interface ExecutionRecord {
  atMs: number;
  event: ExecutionEvent;
  invocationId: string;
  attempt: number;
  invokerId: string;
}

/** Parses the audit file's text; malformed lines (a torn last line) are skipped. */
export function parseExecutionLog(text: string): ExecutionRecord[] {
  const out: ExecutionRecord[] = [];
  for (const line of text.split('\n')) {
    const [at, event, invocationId, attempt, invokerId] = line.split(' ');
    if (invokerId === undefined || (event !== ExecutionEvent.start && event !== ExecutionEvent.answer)) continue;
    out.push({ atMs: Number(at), event, invocationId: invocationId ?? '', attempt: Number(attempt), invokerId });
  }
  return out;
}
