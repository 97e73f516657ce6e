/**
 * Compiled modules by (digest, memory cap), bounded by bytes, least recently used out first.
 * Concurrent first calls of one module share a single fetch and compile.
 */
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
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly prefetches = new PrefetchQueue();
  private used = 0;

  /**
   * @param maxBytes bound on the sum of source sizes of cached modules
   * @param fetch reads a module's bytes by digest (from the object store)
   * @param compile checks and compiles them @default compileForRun, on the calling thread
   */
  constructor(
    private readonly maxBytes: number,
    private readonly fetch: (digest: string) => Promise<Uint8Array>,
    private readonly compile: ModuleCompiler = compileForRun,
  ) {}

  /** Bytes of modules held. */
  get bytes(): number {
    return this.used;
  }

  /**
   * The compiled module for `digest`, capped at `memoryMb`.
   * @throws HayateError from the fetch, HAYATE_ERR_LIMIT_EXCEEDED when the module needs more memory than allowed,
   *   HAYATE_ERR_INVALID_MODULE when it passes the bounds of `checkModuleBounds`
   */
  async get(digest: string, memoryMb: number): Promise<CachedModule> {
    const key = `${digest}/${memoryMb}`;
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Map keeps insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return { module: hit.module, memory: hit.memory, cold: false };
    }
    let load = this.pending.get(key);
    if (load === undefined) {
      load = this.load(digest, memoryMb).finally(() => this.pending.delete(key));
      this.pending.set(key, load);
      const entry = await load;
      this.insert(key, entry);
      return { module: entry.module, memory: entry.memory, cold: true };
    }
    const entry = await load;
    return { module: entry.module, memory: entry.memory, cold: true };
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
    for (const [key, entry] of this.entries) {
      if (key.startsWith(`${digest}/`)) {
        this.entries.delete(key);
        this.used -= entry.bytes;
      }
    }
  }

  private async load(digest: string, memoryMb: number): Promise<Entry> {
    const source = await this.fetch(digest);
    const { module, memory } = await this.compile(source, memoryMb);
    return { module, bytes: source.byteLength, memory };
  }

  private insert(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    this.used += entry.bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.maxBytes || k === key) break;
      this.entries.delete(k);
      this.used -= e.bytes;
    }
  }
}
