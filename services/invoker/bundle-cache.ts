/**
 * Function bundles on an invoker (SPEC §2): fetched from the object store once, held in a SharedArrayBuffer
 * with their index (a tree of (offset, size) ranges), bounded by bytes and least recently used out first.
 * Every run of every function naming a bundle sees these same bytes: the WASM workers get the buffer once
 * each, the container tier a copy on disk made once (bundle-disk.ts). Concurrent first uses share one fetch;
 * bundles are prefetched when a function naming them is deployed, and dropped when no function names them.
 */
import { LRUCache } from 'lru-cache';
import type { BundleIndex } from '../common/bundle-tar';
import { indexBundle } from '../common/bundle-tar';
import type { FunctionSpec } from '../common/codec';
import type { Logger } from '../common/logger';
import type { FunctionEvent } from '../common/store';

/** A bundle ready to serve: its tar bytes (over a SharedArrayBuffer) and its index. */
export interface Bundle {
  digest: string;
  data: Uint8Array;
  index: BundleIndex;
}

/** What the invoker reports of its bundles (status, metrics). */
export interface BundleStats {
  bundleCacheBytes: number;
  bundleFetches: number;
  bundleFetchBytes: number;
}

export interface BundleCacheOptions {
  /** Bound on the bytes of bundles held. */
  maxBytes: number;
  /** Reads a bundle's bytes by digest (the object store), into a SharedArrayBuffer. */
  fetch: (digest: string) => Promise<Uint8Array>;
  /** Fetch bundles when a function naming them is deployed. */
  prefetch: boolean;
  log: Logger;
}

export class BundleCache {
  private readonly cache: LRUCache<string, Bundle>;
  private readonly pending = new Map<string, Promise<Bundle>>();
  private readonly evicted: ((digest: string) => void)[] = [];
  private fetches = 0;
  private fetchBytes = 0;

  constructor(private readonly options: BundleCacheOptions) {
    this.cache = new LRUCache<string, Bundle>({
      maxSize: options.maxBytes,
      sizeCalculation: (b) => Math.max(1, b.data.byteLength),
      dispose: (_bundle, digest) => {
        for (const fn of this.evicted) fn(digest);
      },
    });
  }

  /** Calls `fn` with the digest of every bundle that leaves the cache (workers and disk let go of it too). */
  onEvict(fn: (digest: string) => void): void {
    this.evicted.push(fn);
  }

  stats(): BundleStats {
    return { bundleCacheBytes: this.cache.calculatedSize, bundleFetches: this.fetches, bundleFetchBytes: this.fetchBytes };
  }

  /**
   * The bundle of `digest`, fetched and indexed on first use.
   * @returns the bundle and whether this call had to fetch it
   * @throws HayateError from the fetch (HAYATE_ERR_BUNDLE_NOT_FOUND, HAYATE_ERR_STORE_UNREACHABLE) or the index
   */
  async get(digest: string): Promise<{ bundle: Bundle; cold: boolean }> {
    const hit = this.cache.get(digest);
    if (hit !== undefined) return { bundle: hit, cold: false };
    let load = this.pending.get(digest);
    if (load === undefined) {
      load = this.load(digest).finally(() => this.pending.delete(digest));
      this.pending.set(digest, load);
    }
    return { bundle: await load, cold: true };
  }

  /**
   * Follows a change of the functions bucket: prefetches a deployed function's bundle, and drops a bundle
   * that no function names any more (a redeploy with other files, a delete).
   * @param all every spec known after the change
   */
  onSpecChange(event: FunctionEvent, previous: FunctionSpec | undefined, all: readonly FunctionSpec[]): void {
    const old = previous?.filesDigest ?? '';
    if (old !== '' && !all.some((s) => s.filesDigest === old)) {
      this.options.log.info({ digest: old }, 'bundle no longer used: evicted');
      this.cache.delete(old);
    }
    if (event.kind !== 'put' || event.spec.filesDigest === '' || !this.options.prefetch) return;
    const { filesDigest, filesBytes, name } = event.spec;
    // only while there is room to spare: a node with more bundles than cache fetches on demand
    if (this.cache.calculatedSize + filesBytes > this.options.maxBytes / 2 && !this.cache.has(filesDigest)) return;
    this.get(filesDigest).catch((err: unknown) => this.options.log.debug({ err, fn: name }, 'bundle prefetch failed'));
  }

  /** Drops every bundle. */
  clear(): void {
    this.cache.clear();
  }

  private async load(digest: string): Promise<Bundle> {
    const t0 = performance.now();
    const data = await this.options.fetch(digest);
    this.fetches += 1;
    this.fetchBytes += data.byteLength;
    const index = await indexBundle(data);
    const bundle: Bundle = { digest, data, index };
    this.cache.set(digest, bundle);
    this.options.log.info({ digest, bytes: data.byteLength, files: index.files, ms: Math.round(performance.now() - t0) }, 'bundle fetched');
    return bundle;
  }
}
