/**
 * Function bundles (tars of files, SPEC §2) in the JetStream Object Store `hayate_bundles`, by sha256 hex
 * digest, so a bundle named by several functions is stored once. A bucket of their own, not
 * `hayate_modules`: bundles are up to 256 MiB where modules are up to 64, and an operator can size, replicate
 * and clean the two kinds apart (a listing of either holds one kind only).
 */
import { createHash, randomBytes } from 'node:crypto';
import { consumerOpts, headers } from 'nats';
import type { JetStreamClient, NatsConnection, ObjectStore } from 'nats';
import { HayateError } from './errors';
import type { StoreOptions } from './store';
import { digestOf, reach } from './store';
import { BUNDLES_BUCKET, objectChunksSubject, objectMetaSubject } from './subjects';
import { withNatsRetry } from './nats-retry';

/** A stored bundle as the API shows it. */
export interface BundleRef {
  digest: string;
  bytes: number;
}

const DIGEST = /^[0-9a-f]{64}$/;
/** Chunk size (nats.js' default), chunks acknowledged at once, and the bound on each acknowledgement. */
const CHUNK_BYTES = 128 * 1024;
const PUT_WINDOW = 32;
const PUT_TIMEOUT_MS = 60_000;
/** Longest stretch a read copies chunks without letting the event loop run. */
const YIELD_MS = 5;

/** True when `value` is a sha256 hex digest (64 lowercase hex digits). */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export class BundleStore {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly bundles: ObjectStore,
  ) {}

  /** Opens (creating when missing) the bundles object store. */
  static async open(nc: NatsConnection, options: StoreOptions = {}): Promise<BundleStore> {
    const js = nc.jetstream(options.domain ? { domain: options.domain } : {});
    return new BundleStore(nc, js, await withNatsRetry(`open object store ${BUNDLES_BUCKET}`, () => js.views.os(BUNDLES_BUCKET, { replicas: options.replicas ?? 1 })));
  }

  /**
   * Stores a tar under its digest unless it is there already. Writes the object as nats.js' Object Store lays
   * it out (chunks, then a metadata message with the digest), but hashes with node's SHA-256: nats.js' own is
   * JavaScript, 5.5 s for 32 MiB against node's 0.24 s on this machine under load, all on the caller's thread.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer (safe to retry)
   */
  async put(tar: Uint8Array): Promise<BundleRef> {
    const digest = digestOf(tar);
    await reach(`Cannot store bundle ${digest}`, async () => {
      const existing = await this.bundles.info(digest);
      if (existing !== null && !existing.deleted && existing.size === tar.byteLength) return;
      const nuid = randomBytes(11).toString('hex');
      const chunkSubject = objectChunksSubject(BUNDLES_BUCKET, nuid);
      const chunk = Math.min(CHUNK_BYTES, this.nc.info?.max_payload ?? CHUNK_BYTES);
      let inFlight: Promise<unknown>[] = [];
      let chunks = 0;
      for (let at = 0; at < tar.byteLength; at += chunk) {
        inFlight.push(this.js.publish(chunkSubject, tar.subarray(at, at + chunk), { timeout: PUT_TIMEOUT_MS }));
        chunks += 1;
        if (inFlight.length >= PUT_WINDOW) {
          await Promise.all(inFlight);
          inFlight = [];
        }
      }
      await Promise.all(inFlight);
      const info = {
        name: digest,
        description: 'function bundle (tar)',
        options: { max_chunk_size: chunk },
        bucket: BUNDLES_BUCKET,
        nuid,
        size: tar.byteLength,
        chunks,
        mtime: new Date().toISOString(),
        digest: `SHA-256=${Buffer.from(digest, 'hex').toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`,
        deleted: false,
      };
      const h = headers();
      h.set('Nats-Rollup', 'sub');
      await this.js.publish(objectMetaSubject(BUNDLES_BUCKET, digest), JSON.stringify(info), { headers: h, timeout: PUT_TIMEOUT_MS });
    });
    return { digest, bytes: tar.byteLength };
  }

  /**
   * The stored bundle of `digest`, or null when none is.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer
   */
  async info(digest: string): Promise<BundleRef | null> {
    if (!isDigest(digest)) return null;
    const info = await reach(`Cannot look up bundle ${digest}`, () => this.bundles.info(digest));
    return info === null || info.deleted ? null : { digest, bytes: info.size };
  }

  /**
   * Reads a bundle into one SharedArrayBuffer (so worker threads can see it without a copy), streaming the
   * chunks straight into it, and checks it against the digest. Reads the object's chunks itself rather than
   * through `ObjectStore.get`, whose SHA-256 is JavaScript (see `put`).
   * @throws HayateError HAYATE_ERR_BUNDLE_NOT_FOUND when it is not stored, HAYATE_ERR_STORE_UNREACHABLE when
   *   JetStream does not answer, HAYATE_ERR_INTERNAL when the bytes do not match the digest
   */
  async read(digest: string): Promise<Uint8Array> {
    const info = isDigest(digest) ? await reach(`Cannot load bundle ${digest}`, () => this.bundles.info(digest)) : null;
    if (info === null || info.deleted) throw new HayateError('HAYATE_ERR_BUNDLE_NOT_FOUND', `Cannot load bundle ${digest}: it is not in the ${BUNDLES_BUCKET} object store`);
    const out = new Uint8Array(new SharedArrayBuffer(info.size));
    const hash = createHash('sha256');
    let at = 0;
    if (info.size > 0) {
      await reach(`Cannot load bundle ${digest}`, async () => {
        const opts = consumerOpts();
        opts.orderedConsumer();
        const sub = await this.js.subscribe(objectChunksSubject(BUNDLES_BUCKET, info.nuid), opts);
        let yielded = performance.now();
        for await (const m of sub) {
          if (at + m.data.byteLength > out.byteLength) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot load bundle ${digest}: more bytes than its ${out.byteLength}`);
          out.set(m.data, at);
          hash.update(m.data);
          at += m.data.byteLength;
          if (m.info.pending === 0) break;
          // buffered chunks resolve as microtasks: give timers (progress beats) their turn now and then
          if (performance.now() - yielded > YIELD_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            yielded = performance.now();
          }
        }
        sub.unsubscribe();
      });
    }
    if (at !== out.byteLength || hash.digest('hex') !== digest) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot load bundle ${digest}: stored bytes do not match the digest`);
    return out;
  }
}
