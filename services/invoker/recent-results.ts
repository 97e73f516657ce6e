/**
 * Answers of recent invocations by id, so that a retry (same `invocation_id`, next `attempt`) of a finished
 * or running invocation gets the same answer instead of running the function twice (SPEC §7).
 * Bounded by count and age; the oldest go first.
 */
import type { InvokeResponse } from '../common/codec';

interface Entry {
  answer: Promise<InvokeResponse>;
  atMs: number;
}

export class RecentResults {
  private readonly entries = new Map<string, Entry>();

  /**
   * @param maxEntries answers kept @default 10000
   * @param maxAgeMs how long an answer is kept @default 300000
   */
  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 300_000,
  ) {}

  /** The answer of `id` when it is running or finished recently. */
  get(id: string): Promise<InvokeResponse> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (Date.now() - entry.atMs > this.maxAgeMs) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.answer;
  }

  /** Remembers the (possibly still running) answer of `id`. */
  set(id: string, answer: Promise<InvokeResponse>): void {
    this.entries.set(id, { answer, atMs: Date.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** Forgets `id` (answers that must not be replayed, e.g. "overloaded, try elsewhere"). */
  delete(id: string): void {
    this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
