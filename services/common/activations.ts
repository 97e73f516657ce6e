/**
 * Activation records of async invocations, in the JetStream KV bucket `hayate_activations` (SPEC §1, §7),
 * one key per activation id, kept for a TTL after their last change. Writers go through compare-and-set, so
 * a record that reached `succeeded` or `failed` is never moved back by a late or duplicate attempt. Every call
 * rides out the short outages of a NATS cluster (a server or a leader lost) for up to 10 s.
 */
import type { KV, NatsConnection } from 'nats';
import { KvWatchInclude } from 'nats';
import type { Activation } from './codec';
import { ActivationState, decodeActivation, encodeActivation, Tier } from './codec';
import { HayateError } from './errors';
import type { InvocationId } from './names';
import { parseInvocationId } from './names';
import { withNatsRetry } from './nats-retry';
import { retry } from './retry';
import { ACTIVATIONS_BUCKET } from './subjects';

/** Options for opening the bucket. */
export interface ActivationStoreOptions {
  /** JetStream replicas (3 on a cluster). @default 1 */
  replicas?: number;
  /** How long a record is kept after its last write. @default 86400000 (24 h) */
  ttlMs?: number;
  /** JetStream domain holding the bucket (the hub's, from an edge site's leaf). @default '' (the connected server's) */
  domain?: string;
}

/** True when no attempt may change the record any more. */
export function isTerminal(a: Pick<Activation, 'state'>): boolean {
  return a.state === ActivationState.succeeded || a.state === ActivationState.failed;
}

/** A fresh `queued` record. */
export function queuedActivation(id: InvocationId, fn: string, maxAttempts: number, deadlineUnixMs: number, nowMs = Date.now()): Activation {
  return {
    activationId: id,
    function: fn,
    state: ActivationState.queued,
    reason: '',
    attempts: 0,
    maxAttempts,
    status: 'OK',
    exitCode: 0,
    output: new Uint8Array(0),
    stderr: new Uint8Array(0),
    timings: { queueUs: 0, startupUs: 0, execUs: 0, teardownUs: 0, totalUs: 0 },
    tier: Tier.wasm,
    invokerId: '',
    errorCode: '',
    createdUnixMs: nowMs,
    startedUnixMs: 0,
    finishedUnixMs: 0,
    deadlineUnixMs,
  };
}

/** Whether a KV error is a failed compare-and-set (someone wrote the key in between). */
function isConflict(err: unknown): boolean {
  const text = err instanceof Error ? `${err.message} ${String((err as { code?: unknown }).code ?? '')}` : String(err);
  return /wrong last sequence|10071|key exists/i.test(text);
}

/** Compare-and-set tries of one `update` before giving up on a record that keeps changing. */
const UPDATE_ATTEMPTS = 20;

export class ActivationStore {
  private constructor(private readonly kv: KV) {}

  /** Opens (creating when missing) the bucket. */
  static async open(nc: NatsConnection, options: ActivationStoreOptions = {}): Promise<ActivationStore> {
    // 2 s per try (withNatsRetry tries again): a request sent while the bucket elects a leader gets no answer
    const js = nc.jetstream({ timeout: 2000, ...(options.domain ? { domain: options.domain } : {}) });
    const kv = await withNatsRetry(`open bucket ${ACTIVATIONS_BUCKET}`, () =>
      js.views.kv(ACTIVATIONS_BUCKET, {
        history: 1,
        replicas: options.replicas ?? 1,
        ttl: options.ttlMs ?? 86_400_000,
        // reads go to the stream leader: a GET right after the 202 must see the record just written
        allow_direct: false,
      }),
    );
    return new ActivationStore(kv);
  }

  /**
   * The record of `id`, or null when there is none (never made, or past its TTL).
   * @throws HayateError HAYATE_ERR_BAD_REQUEST when `id` is not a valid activation id
   */
  async get(id: string): Promise<Activation | null> {
    return (await this.read(parseInvocationId(id)))?.activation ?? null;
  }

  /**
   * Writes a new record; resolves false when one with that id exists already.
   */
  async create(activation: Activation): Promise<boolean> {
    try {
      const key = parseInvocationId(activation.activationId);
      await withNatsRetry(`create activation ${key}`, () => this.kv.create(key, encodeActivation(activation)));
      return true;
    } catch (err: unknown) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /**
   * Changes a record by compare-and-set: `change` gets the current record (null when there is none) and
   * returns the next one, or null to leave it as it is. Retries when another writer got in between.
   * @returns the record as stored afterwards (null when there is none)
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when the record kept changing under it
   */
  async update(id: string, change: (current: Activation | null) => Activation | null): Promise<Activation | null> {
    const key = parseInvocationId(id);
    return retry(
      async () => {
        const current = await this.read(key);
        const next = change(current?.activation ?? null);
        if (next === null) return current?.activation ?? null;
        if (current === null) await withNatsRetry(`create activation ${key}`, () => this.kv.create(key, encodeActivation(next)));
        else await withNatsRetry(`update activation ${key}`, () => this.kv.update(key, encodeActivation(next), current.revision));
        return next;
      },
      {
        attempts: UPDATE_ATTEMPTS,
        backoff: { initialMs: 5, factor: 2, maxMs: 200 },
        retryOn: isConflict,
        exhausted: (err) => new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot update activation ${key} as it kept changing under ${UPDATE_ATTEMPTS} attempts`, { cause: err }),
      },
    );
  }

  /**
   * Follows record writes: first those among the last `recentWrites` writes of the bucket, then every new
   * one, each decoded and given to `onRecord` (deletes and records that do not decode are skipped).
   * @param recentWrites how far back to start, in writes (a record takes about three: queued, running, done)
   * @returns a function that stops following
   */
  async follow(recentWrites: number, onRecord: (activation: Activation) => void): Promise<() => void> {
    const lastWrite = (await this.kv.status()).streamInfo.state.last_seq;
    const watch = await this.kv.watch({ include: KvWatchInclude.AllHistory, ignoreDeletes: true, resumeFromRevision: Math.max(1, lastWrite - recentWrites + 1) });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT' || entry.value.byteLength === 0) continue;
        try {
          onRecord(decodeActivation(entry.value));
        } catch {
          // a record this version cannot read must not stop the others
        }
      }
    })();
    return () => watch.stop();
  }

  private async read(key: InvocationId): Promise<{ activation: Activation; revision: number } | null> {
    const entry = await withNatsRetry(`read activation ${key}`, () => this.kv.get(key));
    if (entry === null || entry.operation !== 'PUT' || entry.value.byteLength === 0) return null;
    return { activation: decodeActivation(entry.value), revision: entry.revision };
  }
}
