/**
 * Per-trigger counters that only invokers see (runs finished, failed, dropped), kept in the KV bucket
 * `hayate_trigger_stats`: each invoker writes its own key `<trigger>.<uid>.<invoker>` at most once a second
 * and when it drains, so no two writers share a key; a reader sums the keys of `<trigger>.<uid>`. A SIGKILLed
 * invoker loses at most its last second of counts (the runs themselves are not lost: they are in the
 * activation records). `received` and `lag` come from the trigger's stream and consumer, not from here.
 */
import type { KV, NatsConnection } from 'nats';
import { withNatsRetry } from './nats-retry';
import { TRIGGER_STATS_BUCKET } from './subjects';

/** Counts of one trigger (on one invoker, or summed). */
export interface TriggerCounts {
  /** Runs that finished with an answer, whatever its status. */
  invoked: number;
  /** Activations that ended `failed`: a function error, or attempts used up. */
  failed: number;
  /** Messages never run, by reason (`max_age`, `deadline`). */
  dropped: Record<string, number>;
}

const zero = (): TriggerCounts => ({ invoked: 0, failed: 0, dropped: {} });
const KEY_TOKEN = /[^-_a-zA-Z0-9]/g;

/** Adds `b` into `a`. */
function add(a: TriggerCounts, b: TriggerCounts): TriggerCounts {
  a.invoked += b.invoked;
  a.failed += b.failed;
  for (const [reason, n] of Object.entries(b.dropped)) a.dropped[reason] = (a.dropped[reason] ?? 0) + n;
  return a;
}

export class TriggerStats {
  private readonly local = new Map<string, { key: string; counts: TriggerCounts; dirty: boolean }>();
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly kv: KV,
    private readonly writer: string,
  ) {}

  /**
   * Opens (creating when missing) the bucket.
   * @param writer this process's id (an invoker id), part of its keys; '' for a reader
   */
  static async open(nc: NatsConnection, writer: string, options: { replicas?: number; domain?: string } = {}): Promise<TriggerStats> {
    const js = nc.jetstream({ timeout: 2000, ...(options.domain ? { domain: options.domain } : {}) });
    const kv = await withNatsRetry(`open bucket ${TRIGGER_STATS_BUCKET}`, () => js.views.kv(TRIGGER_STATS_BUCKET, { history: 1, replicas: options.replicas ?? 1 }));
    return new TriggerStats(kv, writer.replace(KEY_TOKEN, '_'));
  }

  /** Counts one outcome of a trigger's message here; written out within a second. */
  count(trigger: string, uid: string, outcome: { kind: 'invoked'; failed: boolean } | { kind: 'failed' } | { kind: 'dropped'; reason: string }): void {
    const id = `${trigger}.${uid}`;
    let entry = this.local.get(id);
    if (entry === undefined) this.local.set(id, (entry = { key: `${id}.${this.writer}`, counts: zero(), dirty: false }));
    const c = entry.counts;
    if (outcome.kind === 'invoked') {
      c.invoked += 1;
      if (outcome.failed) c.failed += 1;
    } else if (outcome.kind === 'failed') c.failed += 1;
    else c.dropped[outcome.reason] = (c.dropped[outcome.reason] ?? 0) + 1;
    entry.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, 1000);
  }

  /** Writes every changed counter now. Never rejects. */
  async flush(): Promise<void> {
    const dirty = [...this.local.values()].filter((e) => e.dirty);
    await Promise.allSettled(
      dirty.map(async (e) => {
        e.dirty = false;
        await this.kv.put(e.key, new TextEncoder().encode(JSON.stringify(e.counts))).catch(() => (e.dirty = true));
      }),
    );
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** The counts of a trigger summed over every invoker that ran it. */
  async read(trigger: string, uid: string): Promise<TriggerCounts> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`${trigger}.${uid}.*`)) keys.push(key);
    const total = zero();
    for (const key of keys) {
      const entry = await this.kv.get(key).catch(() => null);
      if (entry === null || entry.operation !== 'PUT') continue;
      try {
        add(total, { ...zero(), ...(JSON.parse(new TextDecoder().decode(entry.value)) as Partial<TriggerCounts>) });
      } catch {
        // a torn or foreign value counts nothing
      }
    }
    return total;
  }

  /** Removes the counters of a trigger (when it is removed). */
  async forget(trigger: string): Promise<void> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`${trigger}.>`)) keys.push(key);
    await Promise.allSettled(keys.map((k) => this.kv.purge(k)));
  }
}
