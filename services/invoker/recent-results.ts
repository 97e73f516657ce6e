/**
 * Answers of recent invocations by id, so that a retry (same `invocation_id`, next `attempt`) of a finished
 * or running invocation gets the same answer instead of running the function twice (SPEC §7).
 * Bounded by count and age; the oldest go first.
 */
import type { InvokeResponse } from '../common/codec';

interface Entry {
  answer: Promise<InvokeResponse>;
  atMs: number;
  /** False while a retry is still asking peers for the answer; true once it runs here (or has an answer). */
  held: boolean;
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

  /**
   * Remembers the (possibly still running) answer of `id`.
   * @param held false while the answer is still being looked up among peers (see `hold`) @default true
   */
  set(id: string, answer: Promise<InvokeResponse>, held = true): void {
    this.entries.set(id, { answer, atMs: Date.now(), held });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
  }

  /** The answer of `id` when this invoker runs it or has it (not while it only asks peers), for peers' lookups. */
  held(id: string): Promise<InvokeResponse> | undefined {
    const entry = this.entries.get(id);
    return entry?.held === true ? this.get(id) : undefined;
  }

  /** Marks `id` as run here: from now on peers asking for it are answered. */
  hold(id: string): void {
    const entry = this.entries.get(id);
    if (entry !== undefined) entry.held = true;
  }

  /** Forgets `id` (answers that must not be replayed, e.g. "overloaded, try elsewhere"). */
  delete(id: string): void {
    this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
