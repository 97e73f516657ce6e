/**
 * The last N latencies of one tier of one function, for p50/p99 in status and for tier routing.
 * A fixed ring: O(1) to record, O(N log N) to read (status and routing read it rarely).
 */
const REFRESH = 8;

export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;
  /** Every invocation recorded, not only those in the window. */
  count = 0;
  errors = 0;
  /** Quantiles read since the last sort; the sorted copy is refreshed at most every `REFRESH` records. */
  private sorted: number[] = [];
  private sortedAt = -1;

  /** @param size samples kept @default 128 */
  constructor(size = 128) {
    this.samples = new Float64Array(size);
  }

  record(us: number, failed = false): void {
    this.samples[this.next] = us;
    this.next = (this.next + 1) % this.samples.length;
    this.filled = Math.min(this.filled + 1, this.samples.length);
    this.count += 1;
    if (failed) this.errors += 1;
  }

  /** Samples currently in the window. */
  get size(): number {
    return this.filled;
  }

  /**
   * The q-quantile (0..1) of the window, or 0 when empty. The tier router reads it on every call, so the
   * sorted copy is reused until `REFRESH` more samples came in (or the window was still filling).
   */
  quantile(q: number): number {
    if (this.filled === 0) return 0;
    if (this.sortedAt < 0 || this.count - this.sortedAt >= REFRESH || this.sorted.length < this.samples.length) {
      this.sorted = Array.from(this.samples.subarray(0, this.filled)).sort((a, b) => a - b);
      this.sortedAt = this.count;
    }
    const sorted = this.sorted;
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[index] ?? 0;
  }
}
