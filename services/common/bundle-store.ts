/**
 * Function bundles (tars of files, SPEC §2) in the JetStream Object Store `hayate_bundles`, by sha256 hex
 * digest, so a bundle named by several functions is stored once. A bucket of their own, not
 * `hayate_modules`: bundles are up to 256 MiB where modules are up to 64, and an operator can size, replicate
 * and clean the two kinds apart (a listing of either holds one kind only).
 */
import { createHash } from 'node:crypto';
import { consumerOpts } from 'nats';
import type { JetStreamClient, NatsConnection, ObjectStore } from 'nats';
import { HayateError } from './errors';
import type { StoreOptions } from './store';
import { digestOf, reach } from './store';
import { BUNDLES_BUCKET, objectChunksSubject } from './subjects';

/** A stored bundle as the API shows it. */
export interface BundleRef {
  digest: string;
  bytes: number;
}

const DIGEST = /^[0-9a-f]{64}$/;
const PUT_TIMEOUT_MS = 120_000;
/** Longest stretch a read copies chunks without letting the event loop run. */
const YIELD_MS = 5;

/** True when `value` is a sha256 hex digest (64 lowercase hex digits). */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export class BundleStore {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly bundles: ObjectStore,
  ) {}

  /** Opens (creating when missing) the bundles object store. */
  static async open(nc: NatsConnection, options: StoreOptions = {}): Promise<BundleStore> {
    const js = nc.jetstream(options.domain ? { domain: options.domain } : {});
    return new BundleStore(js, await js.views.os(BUNDLES_BUCKET, { replicas: options.replicas ?? 1 }));
  }

  /**
   * Stores a tar under its digest unless it is there already.
   * @throws HayateError HAYATE_ERR_STORE_UNREACHABLE when JetStream does not answer (safe to retry)
   */
  async put(tar: Uint8Array): Promise<BundleRef> {
    const digest = digestOf(tar);
    await reach(`Cannot store bundle ${digest}`, async () => {
      const existing = await this.bundles.info(digest);
      if (existing === null || existing.deleted || existing.size !== tar.byteLength) {
        // every 128 KiB chunk is acknowledged within this bound: 256 MiB is 2,048 chunks in flight, and the
        // default 5 s timed out for 200 MiB on a loaded 2-core machine
        await this.bundles.putBlob({ name: digest, description: 'function bundle (tar)' }, tar, { timeout: PUT_TIMEOUT_MS });
      }
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
   * through `ObjectStore.get`, whose SHA-256 is JavaScript: 200 MiB took 40 s of this thread on a loaded 2-core
   * machine, where node's native hash takes well under a second.
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
