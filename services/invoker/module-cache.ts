/**
 * Compiled modules by (digest, memory cap), bounded by bytes, least recently used out first.
 * Concurrent first calls of one module share a single fetch and compile.
 */
import { capModuleTables, checkModuleBounds } from '../common/module-bounds';
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
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private used = 0;

  /**
   * @param maxBytes bound on the sum of source sizes of cached modules
   * @param fetch reads a module's bytes by digest (from the object store)
   */
  constructor(
    private readonly maxBytes: number,
    private readonly fetch: (digest: string) => Promise<Uint8Array>,
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
    // Checked again here, before anything is compiled or instantiated: the store may hold a module that
    // never passed this deploy check (written straight to the object store, or deployed under other bounds).
    checkModuleBounds(source, memoryMb, 'run module');
    // capped at memory_mb, its tables at their size, and taking its memory from the worker so that memories can be reused
    const { bytes, minPages, maxPages } = importModuleMemory(capModuleTables(capModuleMemory(source, memoryMb)));
    const module = await WebAssembly.compile(bytes);
    return { module, bytes: source.byteLength, memory: { min: minPages, max: maxPages } };
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
