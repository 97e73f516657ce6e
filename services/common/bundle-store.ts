/**
 * Function bundles (tars of files, SPEC §2) in the JetStream Object Store `hayate_bundles`, by sha256 hex
 * digest, so a bundle named by several functions is stored once. A bucket of their own, not
 * `hayate_modules`: bundles are up to 256 MiB where modules are up to 64, and an operator can size, replicate
 * and clean the two kinds apart (a listing of either holds one kind only).
 */
import { createHash } from 'node:crypto';
import type { NatsConnection, ObjectStore } from 'nats';
import { HayateError } from './errors';
import type { StoreOptions } from './store';
import { digestOf, reach } from './store';
import { BUNDLES_BUCKET } from './subjects';

/** A stored bundle as the API shows it. */
export interface BundleRef {
  digest: string;
  bytes: number;
}

const DIGEST = /^[0-9a-f]{64}$/;

/** True when `value` is a sha256 hex digest (64 lowercase hex digits). */
export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export class BundleStore {
  private constructor(private readonly bundles: ObjectStore) {}

  /** Opens (creating when missing) the bundles object store. */
  static async open(nc: NatsConnection, options: StoreOptions = {}): Promise<BundleStore> {
    const js = nc.jetstream(options.domain ? { domain: options.domain } : {});
    return new BundleStore(await js.views.os(BUNDLES_BUCKET, { replicas: options.replicas ?? 1 }));
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
        await this.bundles.putBlob({ name: digest, description: 'function bundle (tar)' }, tar);
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
   * chunks straight into it, and checks it against the digest.
   * @throws HayateError HAYATE_ERR_BUNDLE_NOT_FOUND when it is not stored, HAYATE_ERR_STORE_UNREACHABLE when
   *   JetStream does not answer, HAYATE_ERR_INTERNAL when the bytes do not match the digest
   */
  async read(digest: string): Promise<Uint8Array> {
    const result = await reach(`Cannot load bundle ${digest}`, () => this.bundles.get(digest));
    if (result === null || result.info.deleted) throw new HayateError('HAYATE_ERR_BUNDLE_NOT_FOUND', `Cannot load bundle ${digest}: it is not in the ${BUNDLES_BUCKET} object store`);
    const out = new Uint8Array(new SharedArrayBuffer(result.info.size));
    const hash = createHash('sha256');
    let at = 0;
    await reach(`Cannot load bundle ${digest}`, async () => {
      const reader = result.data.getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        if (at + r.value.byteLength > out.byteLength) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot load bundle ${digest}: more bytes than its ${out.byteLength}`);
        out.set(r.value, at);
        hash.update(r.value);
        at += r.value.byteLength;
      }
      const err = await result.error;
      if (err) throw err; // nats.js resolves undefined (not null) when the read went well
    });
    if (at !== out.byteLength || hash.digest('hex') !== digest) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot load bundle ${digest}: stored bytes do not match the digest`);
    return out;
  }
}
