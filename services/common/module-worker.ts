/**
 * Validation and compilation of modules on a worker thread, so that neither the controller (deploy) nor an
 * invoker (first call, prefetch) stalls its event loop on a large or hostile module: measured on this kind
 * of machine, a module with a 60 MB data segment held the loop 1.0–1.1 s in `new WebAssembly.Module` or in
 * the synchronous part of `WebAssembly.compile`, and one with 100,000 functions 0.1–2.5 s. One thread,
 * one task at a time (compiling is CPU-bound and the node has few cores); a compiled `WebAssembly.Module`
 * comes back to the caller's thread without being compiled again.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HayateError } from './errors';
import type { ModuleFootprint } from './module-bounds';
import { capModuleTables, checkModuleBounds } from './module-bounds';
import type { ModuleShape } from './wasm-module';
import { capModuleMemory, importModuleMemory } from './wasm-module';
import { INLINE_FUEL, meterModule } from './wasm-fuel';

/**
 * Checks a fetched module's bounds for `memoryMb`, caps its memory and tables, and compiles it, on the
 * calling thread (`ModuleWorker.compile` runs it on the worker thread).
 * @param meter also compile the fuel-metered copy (off when the invoker runs nothing inline: `HAYATE_INLINE=off`)
 * @throws HayateError HAYATE_ERR_INVALID_MODULE past a bound, HAYATE_ERR_LIMIT_EXCEEDED when it needs more than `memoryMb` to start
 */
export async function compileForRun(source: Uint8Array, memoryMb: number, meter = true): Promise<CompiledForRun> {
  // Checked again before anything is compiled or instantiated: the store may hold a module that never passed
  // this deploy check (written straight to the object store, or deployed under other bounds).
  checkModuleBounds(source, memoryMb, 'run module');
  // capped at memory_mb, its tables at their size, and taking its memory from the WASM worker so that memories can be reused
  const { bytes, minPages, maxPages } = importModuleMemory(capModuleTables(capModuleMemory(source, memoryMb)));
  // and a copy that counts its fuel, for runs on the invoker's event-loop thread (null when it cannot be metered)
  const metered = meter ? meterModule(bytes, INLINE_FUEL) : null;
  const [module, fueled] = await Promise.all([WebAssembly.compile(bytes), metered === null ? null : WebAssembly.compile(metered).catch(() => null)]);
  return { module, memory: { min: minPages, max: maxPages }, fueled };
}

/** A module compiled for runs: as deployed, and fuel-metered for short runs on the event loop (see wasm-fuel.ts). */
export interface CompiledForRun {
  module: WebAssembly.Module;
  memory: { min: number; max: number | null };
  fueled: WebAssembly.Module | null;
}

/** Work for the thread. */
export type ModuleTask = { kind: 'inspect'; bytes: Uint8Array } | { kind: 'compile'; bytes: Uint8Array; memoryMb: number; meter: boolean };

/** What the thread answers. */
export type ModuleTaskResult =
  | { kind: 'inspected'; shape: ModuleShape; footprint: ModuleFootprint }
  | ({ kind: 'compiled' } & CompiledForRun);

type Reply = { id: number; result: ModuleTaskResult } | { id: number; error: { code: string; message: string } };

interface Pending {
  resolve: (r: ModuleTaskResult) => void;
  reject: (e: unknown) => void;
}

export class ModuleWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /**
   * What deploy needs to know of a module: its shape and what it makes the host allocate.
   * @throws HayateError HAYATE_ERR_INVALID_MODULE as `inspectModule` and `measureModule`
   */
  async inspect(bytes: Uint8Array): Promise<{ shape: ModuleShape; footprint: ModuleFootprint }> {
    const r = await this.run({ kind: 'inspect', bytes });
    if (r.kind !== 'inspected') throw new HayateError('HAYATE_ERR_INTERNAL', `module worker answered ${r.kind} to inspect`);
    return { shape: r.shape, footprint: r.footprint };
  }

  /**
   * Checks the module's bounds for `memoryMb`, caps its memory and tables, and compiles it.
   * @param meter also its fuel-metered copy (see `compileForRun`)
   * @throws HayateError HAYATE_ERR_INVALID_MODULE past a bound or when it does not compile,
   *   HAYATE_ERR_LIMIT_EXCEEDED when it needs more than `memoryMb` to start
   */
  async compile(bytes: Uint8Array, memoryMb: number, meter = true): Promise<CompiledForRun> {
    const r = await this.run({ kind: 'compile', bytes, memoryMb, meter });
    if (r.kind !== 'compiled') throw new HayateError('HAYATE_ERR_INTERNAL', `module worker answered ${r.kind} to compile`);
    return { module: r.module, memory: r.memory, fueled: r.fueled };
  }

  /** Stops the thread; tasks in progress fail with HAYATE_ERR_UNAVAILABLE. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.failAll(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot finish module task as the module worker is stopping'));
    if (worker !== null) await worker.terminate();
  }

  private run(task: ModuleTask): Promise<ModuleTaskResult> {
    if (this.closed) return Promise.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot run module task as the module worker is stopped'));
    const worker = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, task });
    });
  }

  private thread(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(join(__dirname, 'module-worker-thread.js'));
    worker.unref(); // an idle compiler never keeps a process alive
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if ('error' in reply) p.reject(HayateError.fromWire(reply.error.code, reply.error.message));
      else p.resolve(reply.result);
    });
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null; // the next task starts a new thread
      this.failAll(new HayateError('HAYATE_ERR_INTERNAL', `Cannot finish module task as the module worker ${why}`));
    };
    worker.on('error', (err: Error) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }

  private failAll(err: HayateError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
