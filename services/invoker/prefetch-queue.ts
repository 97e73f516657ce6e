/**
 * Module prefetches, one at a time and behind calls (issue 11, finding 8: after a restart with about 1,000
 * functions deployed, every module was fetched and compiled at once and the first calls took 0.5–2.2 s).
 * A prefetch starts only after the event loop has turned (`setImmediate`), so calls that arrived meanwhile
 * go first, and at most `concurrency` run at once; a call that needs a module not yet prefetched loads it
 * itself, through the same module cache (which shares a load in progress).
 */
export class PrefetchQueue {
  private readonly queue = new Map<string, () => Promise<unknown>>();
  private running = 0;

  /** @param concurrency prefetches at once @default 1 */
  constructor(private readonly concurrency = 1) {}

  /** Queues `task` under `key` unless a task of that key waits already. */
  add(key: string, task: () => Promise<unknown>): void {
    if (this.queue.has(key)) return;
    this.queue.set(key, task);
    this.pump();
  }

  /** Prefetches waiting. */
  get waiting(): number {
    return this.queue.size;
  }

  private pump(): void {
    if (this.running >= this.concurrency) return;
    const next = this.queue.entries().next();
    if (next.done === true) return;
    const [key, task] = next.value;
    this.queue.delete(key);
    this.running += 1;
    setImmediate(() => {
      task()
        .catch(() => undefined) // the task reports its own failure; a call that needs the module retries
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    });
  }
}
