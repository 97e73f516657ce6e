/**
 * A counting semaphore with a FIFO queue: at most `max` holders at once. Used per function for
 * `max_concurrency`; the invoker-wide bound on queued work is checked before anyone waits here.
 */
export class Gate {
  private holders = 0;
  private readonly waiting: (() => void)[] = [];

  /** @param max holders allowed at once (changes apply to the next acquire) */
  constructor(public max: number) {}

  get active(): number {
    return this.holders;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a place; the returned function gives it back (call it exactly once). */
  async acquire(): Promise<() => void> {
    if (this.holders >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
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
}
