/**
 * Compiled modules by (digest, memory cap), bounded by bytes, least recently used out first (lru-cache,
 * sized by each module's source bytes). Concurrent first calls of one module share a single fetch and
 * compile (lru-cache's `fetch` dedupes them).
 */
import { LRUCache } from 'lru-cache';
import { capModuleMemory, importModuleMemory } from '../common/wasm-module';

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

  /**
   * @param maxBytes bound on the sum of source sizes of cached modules; a module larger than this is
   *   compiled for its calls but not kept
   * @param fetch reads a module's bytes by digest (from the object store)
   */
  constructor(maxBytes: number, fetch: (digest: string) => Promise<Uint8Array>) {
    this.entries = new LRUCache({
      maxSize: maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.bytes),
      fetchMethod: async (_key, _stale, { context }) => {
        const source = await fetch(context.digest);
        // capped at memory_mb, and taking its memory from the worker so that memories can be reused
        const { bytes, minPages, maxPages } = importModuleMemory(capModuleMemory(source, context.memoryMb));
        const module = await WebAssembly.compile(bytes);
        return { module, bytes: source.byteLength, memory: { min: minPages, max: maxPages } };
      },
      // a fetch in flight holds no bytes yet: `bytes` counts compiled modules only
      backgroundFetchSize: 0,
    });
  }

  /** Bytes of modules held. */
  get bytes(): number {
    return this.entries.calculatedSize;
  }

  /**
   * The compiled module for `digest`, capped at `memoryMb`.
   * @throws HayateError from the fetch, or HAYATE_ERR_LIMIT_EXCEEDED when the module needs more memory than allowed
   */
  async get(digest: string, memoryMb: number): Promise<CachedModule> {
    const status: LRUCache.Status<string, Entry> = {};
    const entry = await this.entries.forceFetch(`${digest}/${memoryMb}`, { context: { digest, memoryMb }, status });
    return { module: entry.module, memory: entry.memory, cold: status.fetch !== 'hit' };
  }

  /** Forgets every compiled form of `digest` (after a redeploy or delete). */
  evict(digest: string): void {
    for (const key of [...this.entries.keys()]) if (key.startsWith(`${digest}/`)) this.entries.delete(key);
  }
}
