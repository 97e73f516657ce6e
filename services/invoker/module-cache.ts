/**
 * Compiled modules by (digest, memory cap), bounded by bytes, least recently used out first (lru-cache,
 * sized by each module's source bytes). Concurrent first calls of one module share a single fetch and
 * compile (lru-cache's `fetch` dedupes them).
 */
import { LRUCache } from 'lru-cache';
import { compileForRun } from '../common/module-worker';
import { PrefetchQueue } from './prefetch-queue';

/** Checks, caps and compiles fetched bytes for `memoryMb` (on a worker thread in the invoker: `ModuleWorker.compile`). */
export type ModuleCompiler = (bytes: Uint8Array, memoryMb: number) => Promise<{ module: WebAssembly.Module; memory: MemoryPages }>;

/** Limits of the memory a compiled module imports (64 KiB pages). */
export interface MemoryPages {
  min: number;
  max: number | null;
}

interface Entry {
  module: WebAssembly.Module;
  bytes: number;
  memory: MemoryPages;
}

/** What `get` returns: the compiled module, its memory limits and whether this call fetched and compiled it. */
export interface CachedModule {
  module: WebAssembly.Module;
  memory: MemoryPages;
  cold: boolean;
}

export class ModuleCache {
  private readonly entries: LRUCache<string, Entry, { digest: string; memoryMb: number }>;
  private readonly prefetches = new PrefetchQueue();
  private readonly evictListeners: ((digest: string, memoryMb: number) => void)[] = [];

  /**
   * @param maxBytes bound on the sum of source sizes of cached modules; a module larger than this is
   *   compiled for its calls but not kept
   * @param fetch reads a module's bytes by digest (from the object store)
   * @param compile checks and compiles them @default compileForRun, on the calling thread
   */
  constructor(maxBytes: number, fetch: (digest: string) => Promise<Uint8Array>, compile: ModuleCompiler = compileForRun) {
    this.entries = new LRUCache({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.bytes),
      fetchMethod: async (_key, _stale, { context }) => {
        const source = await fetch(context.digest);
        // checked against its bounds, capped at memory_mb, taking its memory from the worker (see compileForRun)
        const { module, memory } = await compile(source, context.memoryMb);
        return { module, bytes: source.byteLength, memory };
      },
      // a fetch in flight holds no bytes yet: `bytes` counts compiled modules only
      backgroundFetchSize: 0,
      dispose: (_entry, key) => {
        const at = key.lastIndexOf('/');
        for (const listener of this.evictListeners) listener(key.slice(0, at), Number(key.slice(at + 1)));
      },
    });
  }

  /** `listener` hears of every compiled module that leaves the cache (for the bytes bound, or evicted), by digest and memory cap. */
  onEvict(listener: (digest: string, memoryMb: number) => void): void {
    this.evictListeners.push(listener);
  }

  /** Bytes of modules held. */
  get bytes(): number {
    return this.entries.calculatedSize;
  }

  /**
   * The compiled module for `digest`, capped at `memoryMb`.
   * @throws HayateError from the fetch, HAYATE_ERR_LIMIT_EXCEEDED when the module needs more memory than allowed,
   *   HAYATE_ERR_INVALID_MODULE when it passes the bounds of `checkModuleBounds`
   */
  async get(digest: string, memoryMb: number): Promise<CachedModule> {
    const status: LRUCache.Status<string, Entry> = {};
    const entry = await this.entries.forceFetch(`${digest}/${memoryMb}`, { context: { digest, memoryMb }, status });
    return { module: entry.module, memory: entry.memory, cold: status.fetch !== 'hit' };
  }

  /**
   * Loads a module ahead of its first call, one at a time and after calls waiting on the event loop (see
   * `PrefetchQueue`). `onError` hears of a load that failed.
   */
  prefetch(digest: string, memoryMb: number, onError: (err: unknown) => void): void {
    this.prefetches.add(`${digest}/${memoryMb}`, () => this.get(digest, memoryMb).catch(onError));
  }

  /** Forgets every compiled form of `digest` (after a redeploy or delete). */
  evict(digest: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(`${digest}/`)) this.entries.delete(key);
  }
}
