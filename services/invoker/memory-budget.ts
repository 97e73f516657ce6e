/**
 * The invoker-wide bound of the host memory its running invocations may claim (issue 11, finding 2). A run
 * claims what its limits let it use on the host: memory_mb of guest memory, max_output_bytes and
 * max_stderr_bytes of collected output, and its input. A claim that does not fit waits a little for runs to
 * end, then is refused OVERLOADED, so that a few calls with large allowed limits cannot take the node's RAM.
 */
import { HayateError } from '../common/errors';
import type { CallSignal } from './executor';
import { abortSignalOf } from './executor';

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class MemoryBudget {
  private claimed = 0;
  private readonly waiting: Waiter[] = [];

  /**
   * @param limitBytes the budget (HAYATE_MEMORY_BUDGET_MB)
   * @param patienceMs how long a claim that does not fit waits for others to end @default 1000
   */
  constructor(
    readonly limitBytes: number,
    private readonly patienceMs = 1000,
  ) {}

  /** Bytes claimed by running invocations. */
  get inUse(): number {
    return this.claimed;
  }

  /**
   * Claims `bytes`; the returned function gives them back (call it once). One claim alone always fits, so a
   * function whose limits pass the budget still runs when the node is otherwise idle.
   * @throws HayateError HAYATE_ERR_OVERLOADED when the claim did not fit within patienceMs, or `signal`'s
   *   reason when it aborted meanwhile
   */
  async claim(bytes: number, what: string, signal?: CallSignal): Promise<() => void> {
    if (!this.fits(bytes) || this.waiting.length > 0) await this.wait(bytes, what, abortSignalOf(signal));
    else this.claimed += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.claimed -= bytes;
      this.grantWaiting();
    };
  }

  private fits(bytes: number): boolean {
    return this.claimed === 0 || this.claimed + bytes <= this.limitBytes;
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]?.bytes ?? 0)) {
      const next = this.waiting.shift();
      if (next === undefined) return;
      this.claimed += next.bytes;
      next.grant();
    }
  }

  private wait(bytes: number, what: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (err: unknown): void => {
        const at = this.waiting.indexOf(waiter);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
        this.grantWaiting();
      };
      const onAbort = (): void => leave(signal?.reason);
      const waiter: Waiter = {
        bytes,
        grant: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const timer = setTimeout(
        () => leave(new HayateError('HAYATE_ERR_OVERLOADED', `Cannot run ${what} as its limits claim ${bytes} bytes of host memory and the invoker's budget of ${this.limitBytes} bytes stayed taken (${this.claimed} in use) for ${this.patienceMs} ms`)),
        this.patienceMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }
}
