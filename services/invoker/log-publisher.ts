/**
 * Publishes what a run wrote to stderr, line by line, and one summary per finished run on
 * `<prefix>.v1.logs.<fn>` (SPEC §4), for `hayate logs`, the logs stream, and any NATS subscriber.
 *
 * It never slows a call: `published()` only queues the run, and the queued runs become entries and leave
 * together `FLUSH_AFTER_MS` later, in one write, never awaited. Right behind the answers instead (a microtask after
 * their write), building and writing a run's entries and waking the controller that keeps them took the CPU that
 * the answer's way back to its caller needed: a call 10 ms after the last one was 0.09–0.15 ms slower with
 * logs on than off (two interleaved clusters, 400 calls each); ahead of the answers, in a write of their own, they
 * cost a call at one in flight ≈0.2 ms. Each function has a token bucket
 * (`logRatePerSec`, `logBurst`), so one function that floods stderr cannot crowd out the entries of another
 * or the connection itself; what a bucket refuses is counted and announced in a `dropped` entry at most once
 * a second. A summary is preferred to stderr lines: it takes its token first.
 */
import type { NatsConnection } from 'nats';
import type { InvokeResponse, InvokeRequest } from '../common/codec';
import type { Config } from '../common/config';
import type { LogEntry } from '../common/log-entries';
import type { Subjects } from '../common/subjects';

/** At most this many lines of one run are considered (the rest counts as dropped). */
const MAX_LINES_PER_RUN = 1000;
/** A line longer than this is cut. */
const MAX_LINE_CHARS = 4096;
const DROP_NOTICE_EVERY_MS = 1000;
/** How long a finished run waits for its entries to be built and published, with every run finished meanwhile. */
export const FLUSH_AFTER_MS = 5;

interface Bucket {
  tokens: number;
  refilledMs: number;
  /** Entries refused since the last `dropped` notice. */
  unreported: number;
  noticedMs: number;
  /** A pending `dropped` notice, for drops that no later entry of the function announces. */
  noticeTimer: NodeJS.Timeout | null;
}

const millis = (us: number): number => Math.round(us) / 1000;
const encoder = new TextEncoder();

export class LogPublisher {
  private readonly buckets = new Map<string, Bucket>();
  private closed = false;
  /** Entries refused by the rate bound since start, per function. */
  readonly dropped = new Map<string, number>();
  /** Entries published since start. */
  sent = 0;
  /** Runs finished since the last flush, in order. */
  private queued: { request: InvokeRequest; response: InvokeResponse }[] = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly config: Pick<Readonly<Config>, 'logsEnabled' | 'logRatePerSec' | 'logBurst' | 'invokerId'>,
  ) {}

  /** Called once per finished run, when its answer is made; returns at once. */
  published(request: InvokeRequest, response: InvokeResponse): void {
    if (!this.config.logsEnabled || this.closed) return;
    this.queued.push({ request, response });
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_AFTER_MS);
    this.flushTimer.unref();
  }

  /** Stops publishing (drain): the runs queued until now are published first. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const b of this.buckets.values()) if (b.noticeTimer !== null) clearTimeout(b.noticeTimer);
  }

  /** Publishes the entries of every queued run. */
  private flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const runs = this.queued;
    this.queued = [];
    for (const { request, response } of runs) this.publish(request, response);
  }

  private publish(request: InvokeRequest, r: InvokeResponse): void {
    if (this.closed || this.nc.isClosed()) return;
    const fn = request.function;
    const bucket = this.bucketOf(fn);
    const summaryAllowed = this.take(bucket);
    if (!summaryAllowed && r.stderr.byteLength === 0) {
      // the common case past the rate: nothing to write, one more to count
      bucket.unreported += 1;
      this.dropped.set(fn, (this.dropped.get(fn) ?? 0) + 1);
      this.announceDrops(fn, bucket);
      return;
    }
    const base = { ts: new Date().toISOString(), fn, invoker: this.config.invokerId };
    const lines = r.stderr.byteLength === 0 ? [] : Buffer.from(r.stderr).toString('utf8').split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    const entries: LogEntry[] = [];
    let refused = summaryAllowed ? 0 : 1;
    for (let i = 0; i < lines.length; i += 1) {
      if (i >= MAX_LINES_PER_RUN || !this.take(bucket)) {
        refused += lines.length - i;
        break;
      }
      const line = lines[i] ?? '';
      entries.push({ ...base, kind: 'stderr', id: r.invocationId, attempt: r.attempt, line: line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line });
    }
    if (summaryAllowed) {
      const t = r.timings;
      entries.push({
        ...base,
        kind: 'summary',
        id: r.invocationId,
        attempt: r.attempt,
        status: r.status,
        exit_code: r.exitCode,
        tier: r.tier,
        cold_start: r.coldStart,
        ...(r.errorCode !== '' ? { error: r.errorCode } : {}),
        timings_ms: { queue: millis(t.queueUs), startup: millis(t.startupUs), exec: millis(t.execUs), teardown: millis(t.teardownUs), total: millis(t.totalUs) },
      });
    }
    if (refused > 0) {
      bucket.unreported += refused;
      this.dropped.set(fn, (this.dropped.get(fn) ?? 0) + refused);
    }
    this.send(fn, entries);
    if (bucket.unreported > 0) this.announceDrops(fn, bucket);
  }

  /** Publishes a `dropped` entry now, or once a second has passed since the last. */
  private announceDrops(fn: string, bucket: Bucket): void {
    if (bucket.noticeTimer !== null) return;
    const wait = Math.max(0, bucket.noticedMs + DROP_NOTICE_EVERY_MS - Date.now());
    bucket.noticeTimer = setTimeout(() => {
      bucket.noticeTimer = null;
      if (bucket.unreported === 0 || this.closed) return;
      this.send(fn, [{ ts: new Date().toISOString(), fn, invoker: this.config.invokerId, kind: 'dropped', dropped: bucket.unreported }]);
      bucket.unreported = 0;
      bucket.noticedMs = Date.now();
    }, wait);
    bucket.noticeTimer.unref();
  }

  private send(fn: string, entries: readonly LogEntry[]): void {
    const subject = this.subjects.logs(fn);
    try {
      for (const e of entries) this.nc.publish(subject, encoder.encode(JSON.stringify(e)));
      this.sent += entries.length;
    } catch {
      // the connection is closing: logs are best effort, the answer already left
    }
  }

  private bucketOf(fn: string): Bucket {
    let b = this.buckets.get(fn);
    if (b === undefined) this.buckets.set(fn, (b = { tokens: this.config.logBurst, refilledMs: performance.now(), unreported: 0, noticedMs: 0, noticeTimer: null }));
    return b;
  }

  private take(b: Bucket): boolean {
    const now = performance.now();
    b.tokens = Math.min(this.config.logBurst, b.tokens + ((now - b.refilledMs) / 1000) * this.config.logRatePerSec);
    b.refilledMs = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
