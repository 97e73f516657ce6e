/**
 * An append-only audit of executions (config `executionLogFile`, env `HAYATE_EXECUTION_LOG`): one line when
 * an invoker starts running a function and one when its answer leaves (the sync reply is sent, or the
 * activation record is stored). Several invokers may share one file: each line is a single O_APPEND write,
 * which Linux keeps whole and in order, and it is written synchronously, so a SIGKILL loses nothing that
 * happened before it. The chaos suite counts executions per invocation id from it.
 *
 * Line grammar: `<unix ms> <event> <invocation id> <attempt> <invoker id>`, event = `start` | `answer`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

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

export class ExecutionLog {
  private fd: number | null;

  /**
   * @param file path of the audit file; '' disables the log (every call is then a no-op)
   * @param invokerId written on every line
   */
  constructor(
    file: string,
    private readonly invokerId: string,
  ) {
    this.fd = file === '' ? null : openSync(file, 'a');
  }

  /** The function of `invocationId` starts running here. */
  started(invocationId: string, attempt: number): void {
    this.write(ExecutionEvent.start, invocationId, attempt);
  }

  /** The answer of `invocationId` left this invoker. */
  answered(invocationId: string, attempt: number): void {
    this.write(ExecutionEvent.answer, invocationId, attempt);
  }

  /** Closes the file. Idempotent. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    closeSync(fd);
  }

  private write(event: ExecutionEvent, invocationId: string, attempt: number): void {
    if (this.fd === null || invocationId === '') return;
    writeSync(this.fd, `${Date.now()} ${event} ${invocationId} ${attempt} ${this.invokerId}\n`);
  }
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
