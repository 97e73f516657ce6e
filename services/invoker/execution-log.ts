/**
 * An append-only audit of executions (config `executionLogFile`, env `HAYATE_EXECUTION_LOG`): one line when
 * an invoker starts running a function and one when its answer leaves (the sync reply is sent, or the
 * activation record is stored). Several invokers may share one file: each line is a single O_APPEND write,
 * which Linux keeps whole and in order, and it is written synchronously, so a SIGKILL loses nothing that
 * happened before it. The chaos suite counts executions per invocation id from it.
 *
 * The line format and its parser are in `common/execution-record.ts`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ExecutionEvent } from '../common/execution-record';

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
