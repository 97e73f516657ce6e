/**
 * The deployed `timeout_ms` of every function, kept current by a watch of the `hayate_functions` KV, so
 * that the controller waits for a call as long as its function may run (issue 11, finding 7: a function
 * deployed with timeout_ms=60000 got 503 after the 10 s default plus grace) without a KV read per call.
 */
import type { Logger } from '../common/logger';
import type { FunctionName } from '../common/names';
import type { FunctionStore } from '../common/store';

export class SpecTimeouts {
  private readonly timeouts = new Map<string, number>();
  private readonly abort = new AbortController();
  private started: Promise<void> | null = null;

  constructor(
    private readonly store: FunctionStore,
    private readonly log: Logger,
  ) {}

  /**
   * The spec timeout of `fn` in ms, or 0 when it is not deployed (the caller's default applies). A function
   * the watch has not delivered yet (deployed through another controller a moment ago) is read from the KV.
   */
  async get(fn: FunctionName): Promise<number> {
    this.started ??= this.store
      .watch((event) => {
        if (event.kind === 'put') this.timeouts.set(event.spec.name, event.spec.timeoutMs);
        else this.timeouts.delete(event.name);
      }, this.abort.signal)
      .catch((err: unknown) => {
        this.started = null; // try again on the next call; meanwhile read the KV
        this.log.warn({ err }, 'spec watch failed');
      });
    await this.started;
    const known = this.timeouts.get(fn);
    if (known !== undefined) return known;
    try {
      return (await this.store.getSpec(fn))?.timeoutMs ?? 0;
    } catch (err: unknown) {
      this.log.warn({ err, fn }, 'spec timeout unknown: the default applies');
      return 0;
    }
  }

  /** Records a deploy made here before the watch delivers it. */
  set(fn: FunctionName, timeoutMs: number): void {
    this.timeouts.set(fn, timeoutMs);
  }

  /** Stops the watch. Idempotent. */
  close(): void {
    this.abort.abort();
  }
}
