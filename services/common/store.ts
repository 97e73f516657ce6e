/**
 * hayate's state, all of it in NATS JetStream: function specs in KV `hayate_functions`, modules in the
 * Object Store `hayate_modules` keyed by sha256 digest (so a module of tens of MiB is stored once and
 * read in chunks; NATS' max_payload does not apply).
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient, KV, KvEntry, NatsConnection, ObjectStore } from 'nats';
import { decodeFunctionSpec, encodeFunctionSpec } from './codec';
import type { FunctionSpec } from './codec';
import { HayateError } from './errors';
import { watchKv } from './kv-watch';
import type { FunctionName } from './names';
import { isFunctionName } from './names';
import { FUNCTIONS_BUCKET, MODULES_BUCKET } from './subjects';
import { withNatsRetry } from './nats-retry';

/** sha256 hex of a module. */
export function digestOf(module: Uint8Array): string {
  return createHash('sha256').update(module).digest('hex');
}

/** An event of the functions bucket as seen by `FunctionStore.watch`. */
export type FunctionEvent = { kind: 'put'; spec: FunctionSpec } | { kind: 'delete'; name: FunctionName };

/** Options for opening the buckets. */
export interface StoreOptions {
  /** JetStream replicas of each bucket (3 on a hub cluster). @default 1 */
  replicas?: number;
  /**
   * JetStream domain holding the buckets: the hub's, when connected to an edge site's leaf node (whose own
   * server has no JetStream). @default '' (the connected server's JetStream)
   */
  domain?: string;
}

/** Function specs and modules in JetStream. */
export class FunctionStore {
  private constructor(
    private readonly kv: KV,
    private readonly modules: ObjectStore,
  ) {}

  /** Opens (creating when missing) the functions KV and modules object store. */
  static async open(nc: NatsConnection, options: StoreOptions = {}): Promise<FunctionStore> {
    const js: JetStreamClient = nc.jetstream(options.domain ? { domain: options.domain } : {});
    const replicas = options.replicas ?? 1;
    // a process starting while the hub elects a leader (or its leaf link comes up) waits for it rather than exiting
    const kv = await withNatsRetry(`open bucket ${FUNCTIONS_BUCKET}`, () => js.views.kv(FUNCTIONS_BUCKET, { history: 5, replicas }));
    const modules = await withNatsRetry(`open object store ${MODULES_BUCKET}`, () => js.views.os(MODULES_BUCKET, { replicas, storage: undefined }));
    return new FunctionStore(kv, modules);
  }

  /**
   * Stores a module under its digest unless it is there already; returns the digest.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer (safe to retry)
   */
  async putModule(module: Uint8Array): Promise<string> {
    const digest = digestOf(module);
    await reach(`Cannot store module ${digest}`, async () => {
      const existing = await this.modules.info(digest);
      if (existing === null || existing.deleted || existing.size !== module.byteLength) {
        await this.modules.putBlob({ name: digest, description: 'wasm module' }, module);
      }
    });
    return digest;
  }

  /**
   * Reads a module by digest and checks it against the digest.
   * @throws HayateError HAYATE_ERR_NOT_FOUND when no such module is stored, HAYATE_ERR_STORE_UNREACHABLE when
   *   JetStream does not answer
   */
  async getModule(digest: string): Promise<Uint8Array> {
    const data = await reach(`Cannot load module ${digest}`, () => this.modules.getBlob(digest));
    if (data === null) throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot load module ${digest}: it is not in the ${MODULES_BUCKET} object store`);
    if (digestOf(data) !== digest) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot load module ${digest}: stored bytes do not match the digest`);
    return data;
  }

  /**
   * Writes a spec; returns it with `version` set to the KV revision.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer (safe to retry)
   */
  async putSpec(spec: FunctionSpec): Promise<FunctionSpec> {
    const encoded = encodeFunctionSpec(spec);
    const revision = await reach(`Cannot store the spec of ${spec.name}`, () => this.kv.put(spec.name, encoded));
    return { ...spec, version: revision };
  }

  /**
   * The spec of `name`, or null when it is not deployed.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer
   */
  async getSpec(name: FunctionName): Promise<FunctionSpec | null> {
    const entry = await reach(`Cannot read the spec of ${name}`, () => this.kv.get(name));
    return entry === null || entry.operation !== 'PUT' ? null : specOf(entry);
  }

  /** Every deployed spec, sorted by name. */
  async listSpecs(): Promise<FunctionSpec[]> {
    // collect the keys first: awaiting inside the keys iterator loses keys (nats.js 2.29)
    const keys: FunctionName[] = [];
    await reach('Cannot list functions', async () => {
      for await (const key of await this.kv.keys()) if (isFunctionName(key)) keys.push(key);
    });
    const specs = (await Promise.all(keys.map((k) => this.getSpec(k)))).filter((s): s is FunctionSpec => s !== null);
    return specs.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes `name`; returns false when it was not deployed. */
  async deleteSpec(name: FunctionName): Promise<boolean> {
    const existing = await this.getSpec(name);
    if (existing === null) return false;
    await reach(`Cannot remove ${name}`, () => this.kv.delete(name));
    return true;
  }

  /**
   * Streams every current spec and then every change. Stops when `signal` aborts.
   * @param onEvent called for each put or delete, in order
   */
  async watch(onEvent: (event: FunctionEvent) => void, signal: AbortSignal): Promise<void> {
    await watchKv(this.kv, signal, (entry) => {
      if (!isFunctionName(entry.key)) return;
      if (entry.operation === 'PUT') onEvent({ kind: 'put', spec: specOf(entry) });
      else onEvent({ kind: 'delete', name: entry.key });
    });
  }
}

/**
 * Runs a JetStream call (exported for the other stores of common). Not reaching JetStream (no responders, a timeout: an edge site cut off from the
 * hub, or a hub without quorum) becomes HAYATE_ERR_STORE_UNREACHABLE, so that callers learn why at once.
 */
export async function reach<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err: unknown) {
    if (err instanceof HayateError || !unreachable(err)) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new HayateError('HAYATE_ERR_STORE_UNREACHABLE', `${what} as JetStream did not answer (${reason}): the hub is unreachable from here or has no quorum`, { cause: err });
  }
}

/** NATS' ways of saying "nobody answered": no responders, timeouts, a lost connection, JetStream without quorum. */
const UNREACHABLE_CODES = new Set(['503', 'TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_DRAINING', 'DISCONNECT', 'CONNECTION_REFUSED']);

function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = String((err as { code?: unknown }).code ?? '');
  return UNREACHABLE_CODES.has(code) || /temporarily unavailable|no responders|timeout/i.test(err.message);
}

function specOf(entry: KvEntry): FunctionSpec {
  return { ...decodeFunctionSpec(entry.value), version: entry.revision };
}
