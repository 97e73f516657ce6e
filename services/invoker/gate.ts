import type { CallSignal } from './executor';
import { abortSignalOf } from './executor';

/**
 * A counting semaphore with a FIFO queue: at most `max` holders at once. Used per function for
 * `max_concurrency`; the invoker-wide bound on queued work is checked before anyone waits here.
 */
export class Gate {
  private holders = 0;
  private readonly waiting: (() => void)[] = [];

  /** @param max holders allowed at once (changes apply to the next acquire) */
  constructor(public max: number) {}

  /**
   * Waits for a place; the returned function gives it back (call it exactly once).
   * @throws the signal's reason when `signal` aborts while waiting (the place is then never taken)
   */
  async acquire(signal?: CallSignal): Promise<() => void> {
    if (signal?.aborted === true) throw abortSignalOf(signal).reason;
    if (this.holders >= this.max) await this.wait(abortSignalOf(signal));
    else this.holders += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // hand the place straight to the next waiter, so holders never exceeds max
      if (next !== undefined) next();
      else this.holders -= 1;
    };
  }

  private wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiting.indexOf(granted);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal?.reason);
      };
      const granted = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(granted);
    });
  }
}
