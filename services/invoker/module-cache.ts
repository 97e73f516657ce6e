/**
 * Compiled modules by (digest, memory cap), bounded by bytes, least recently used out first (lru-cache,
 * sized by each module's source bytes). Concurrent first calls of one module share a single fetch and
 * compile (lru-cache's `fetch` dedupes them).
 */
import { LRUCache } from 'lru-cache';
import type { FunctionSpec } from '../common/codec';
import { compileForRun } from '../common/module-worker';
import { HayateError } from '../common/errors';
import { digestOf } from '../common/store';
import { PrefetchQueue } from './prefetch-queue';

/** Checks, caps and compiles fetched bytes for `memoryMb` (on a worker thread in the invoker: `ModuleWorker.compile`). */
export type ModuleCompiler = (bytes: Uint8Array, memoryMb: number) => Promise<{ module: WebAssembly.Module; memory: MemoryPages; fueled?: WebAssembly.Module | null }>;

/** Limits of the memory a compiled module imports (64 KiB pages). */
export interface MemoryPages {
  min: number;
  max: number | null;
}

interface Entry {
  digest: string;
  memoryMb: number;
  module: WebAssembly.Module;
  bytes: number;
  memory: MemoryPages;
  /** The fuel-metered copy (see wasm-fuel.ts), or null. */
  fueled: WebAssembly.Module | null;
}

/** A module's key in the cache: one compiled form per digest and memory cap. */
function keyOf(digest: string, memoryMb: number): string {
  return `${digest}/${memoryMb}`;
}

/** A module just compiled into the cache, or ready after a deploy notice: then with the function deployed. */
export interface LoadedModule {
  digest: string;
  memoryMb: number;
  module: WebAssembly.Module;
  memory: MemoryPages;
  /** The fuel-metered copy, or null (absent when a compile just finished: the cache holds it). */
  fueled?: WebAssembly.Module | null;
  spec?: FunctionSpec;
}

/** What `get` returns: the compiled module, its memory limits and whether this call fetched and compiled it. */
export interface CachedModule {
  module: WebAssembly.Module;
  memory: MemoryPages;
  /** The fuel-metered copy, for short runs on the event-loop thread, or null. */
  fueled: WebAssembly.Module | null;
  cold: boolean;
}

export class ModuleCache {
  private readonly entries: LRUCache<string, Entry, { digest: string; memoryMb: number; source?: Uint8Array }>;
  private readonly prefetches = new PrefetchQueue();
  private readonly evictListeners: ((digest: string, memoryMb: number) => void)[] = [];
  private readonly loadListeners: ((loaded: LoadedModule) => void)[] = [];

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
        const source = context.source ?? (await fetch(context.digest));
        // checked against its bounds, capped at memory_mb, taking its memory from the worker (see compileForRun)
        const { module, memory, fueled = null } = await compile(source, context.memoryMb);
        for (const listener of this.loadListeners) listener({ digest: context.digest, memoryMb: context.memoryMb, module, memory });
        return { digest: context.digest, memoryMb: context.memoryMb, module, bytes: source.byteLength, memory, fueled };
      },
      // a fetch in flight holds no bytes yet: `bytes` counts compiled modules only
      backgroundFetchSize: 0,
      dispose: (entry) => {
        for (const listener of this.evictListeners) listener(entry.digest, entry.memoryMb);
      },
    });
  }

  /**
   * `listener` hears of every module compiled into the cache (to hand it to workers ahead of its calls), and
   * again, with the function's spec, when a `preload` has it ready (however it was loaded).
   */
  onLoad(listener: (loaded: LoadedModule) => void): void {
    this.loadListeners.push(listener);
  }

  /**
   * Compiles `source`, announced as the module of `digest` (a deploy notice), at once and without reading
   * the object store; resolves when it is compiled (at once when it is cached, with the load in progress
   * when it is loading), then tells the `onLoad` listeners, with `spec`.
   * @throws HayateError HAYATE_ERR_INVALID_MODULE when the bytes do not have that digest (anyone on NATS can
   *   publish a notice: only content that matches its digest is taken), or from the compile
   */
  async preload(spec: FunctionSpec, source: Uint8Array): Promise<void> {
    const { digest, memoryMb } = spec;
    if (digestOf(source) !== digest) throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot preload module ${digest}: the bytes announced do not have that digest`);
    const { module, memory, fueled } = await this.entries.forceFetch(keyOf(digest, memoryMb), { context: { digest, memoryMb, source } });
    for (const listener of this.loadListeners) listener({ digest, memoryMb, module, memory, fueled, spec });
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
    const entry = await this.entries.forceFetch(keyOf(digest, memoryMb), { context: { digest, memoryMb }, status });
    return { module: entry.module, memory: entry.memory, fueled: entry.fueled, cold: status.fetch !== 'hit' };
  }

  /**
   * Loads a module ahead of its first call, one at a time and after calls waiting on the event loop (see
   * `PrefetchQueue`). `onError` hears of a load that failed.
   */
  prefetch(digest: string, memoryMb: number, onError: (err: unknown) => void): void {
    this.prefetches.add(keyOf(digest, memoryMb), () => this.get(digest, memoryMb).catch(onError));
  }

  /** Forgets every compiled form of `digest` (after a redeploy or delete). */
  evict(digest: string): void {
    for (const [key, entry] of [...this.entries.entries()]) if (entry.digest === digest) this.entries.delete(key);
  }
}
