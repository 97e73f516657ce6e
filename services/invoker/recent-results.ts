/**
 * Answers of recent invocations by id, so that a retry (same `invocation_id`, next `attempt`) of a finished
 * or running invocation gets the same answer instead of running the function twice (SPEC §7).
 * Bounded by count, age and the bytes of the answers it holds (outputs reach 6 MiB); the oldest go first.
 */
import type { InvokeResponse } from '../common/codec';

interface Entry {
  answer: Promise<InvokeResponse>;
  atMs: number;
  /** False while a retry is still asking peers for the answer; true once it runs here (or has an answer). */
  held: boolean;
  /** Output + stderr bytes, once the answer is in. */
  bytes: number;
}

export class RecentResults {
  private readonly entries = new Map<string, Entry>();
  private heldBytes = 0;

  /**
   * @param maxEntries answers kept @default 10000
   * @param maxAgeMs how long an answer is kept @default 300000
   * @param maxBytes output and stderr bytes kept @default 64 MiB
   */
  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 300_000,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The answer of `id` when it is running or finished recently. */
  get(id: string): Promise<InvokeResponse> | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (Date.now() - entry.atMs > this.maxAgeMs) {
      this.delete(id);
      return undefined;
    }
    return entry.answer;
  }

  /**
   * Remembers the (possibly still running) answer of `id`.
   * @param held false while the answer is still being looked up among peers (see `hold`) @default true
   */
  set(id: string, answer: Promise<InvokeResponse>, held = true): void {
    this.delete(id);
    const entry: Entry = { answer, atMs: Date.now(), held, bytes: 0 };
    this.entries.set(id, entry);
    answer.then(
      (r) => {
        if (this.entries.get(id) !== entry) return;
        entry.bytes = r.output.byteLength + r.stderr.byteLength;
        this.heldBytes += entry.bytes;
        this.trim();
      },
      () => undefined,
    );
    this.trim();
  }

  /** Drops the oldest entries past maxEntries, then the oldest finished answers past maxBytes. */
  private trim(): void {
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.delete(oldest.value);
    }
    if (this.heldBytes <= this.maxBytes) return;
    // running invocations hold no bytes yet and stay: a retry must find them
    for (const [id, entry] of this.entries) {
      if (this.heldBytes <= this.maxBytes) break;
      if (entry.bytes > 0) this.delete(id);
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
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.heldBytes -= entry.bytes;
    this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
