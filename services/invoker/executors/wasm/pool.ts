/**
 * A fixed pool of WASM worker threads, started and initialised ahead of time so that no run waits for
 * `init()` and no long WASM run holds the event-loop thread (NATS heartbeats keep flowing during a 2 s run;
 * only short runs, fuel-metered, go on that thread: inline-lane.ts).
 * A run whose signal aborts (its deadline passed, or shutdown) terminates its worker (the only way to stop
 * a WASM loop) and a replacement is started at once, so the pool stays full.
 *
 * Fair share: the pool has `size` workers any function may use, and `spares` more that only a function
 * below its fair share (size ÷ functions running or waiting, at least 1) may take once the `size` are
 * busy. So a function that holds every worker with long runs cannot make another wait: the other's call
 * starts on a spare at once and the OS shares the cores between the threads (issue 11, finding 3).
 *
 * Each worker has a JS heap limit (`resourceLimits`): a run whose host structures outgrow it step by step
 * ends with LIMIT_EXCEEDED and only its worker is replaced (one huge allocation still aborts the process in
 * V8: module bounds are checked before compiling, services/common/module-bounds.ts).
 *
 * After a run, a worker prepares the function's next instance, which runs the module's start section. That
 * time is the function's: the worker counts as busy, takes only that function's calls (their timers run
 * meanwhile), and a preparation longer than `PREPARE_MAX_MS` is abandoned (the worker is replaced) and the
 * module is never prepared ahead again, so its instantiation happens inside its own runs, on its own clock.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../../common/logger';
import { HayateError } from '../../../common/errors';
import type { ForgetMessage, ForgetModuleMessage, PrepareMessage, RunMessage, WorkerMessage } from './worker-protocol';
import { moduleKey, PREPARING, sharedState, WANT_IDLE } from './worker-protocol';
import type { Job, PoolRunMessage, PoolRunResult, RunOptions, Slot } from './slot';
import { fairShareAllows, MOVE_INPUT_MIN_BYTES, WorkerHoldings } from './slot';
import { WORKER_DIED } from '../../executor';

type RunResult = Extract<WorkerMessage, { type: 'result' }>;
export type { PoolRunMessage, PoolRunResult, RunOptions } from './slot';

/** A preparation that takes longer is abandoned: an ordinary instantiation takes well under 10 ms. */
const PREPARE_MAX_MS = 50;
/** Modules remembered as too slow to prepare ahead. */
const SLOW_PREPARE_MAX = 1024;

/** Options of a pool. */
export interface WasmPoolOptions {
  /** JS heap (old generation) of each worker, MiB. @default 512 */
  heapMb?: number;
  /** Workers beyond `size`, for functions below their fair share. @default 0 */
  spares?: number;
}

/** Pool lifecycle. */
export const PoolState = { starting: 'starting', running: 'running', stopped: 'stopped' } as const;
export type PoolState = (typeof PoolState)[keyof typeof PoolState];

export class WasmPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private nextId = 1;
  private state: PoolState = PoolState.starting;
  private closing: Promise<void> | null = null;
  /** Digests whose preparation overran `PREPARE_MAX_MS`: their runs instantiate on their own clock. */
  private readonly slowPrepare = new Set<string>();
  private readonly heapMb: number;
  private readonly spares: number;

  /**
   * @param size worker threads any function may use (one per core by default in config)
   */
  constructor(
    private readonly size: number,
    private readonly log: Logger,
    options: WasmPoolOptions = {},
  ) {
    this.heapMb = options.heapMb ?? 512;
    this.spares = options.spares ?? 0;
  }

  /** Starts every worker and waits until each is ready to run. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.size + this.spares; i += 1) ready.push(this.spawn());
    await Promise.all(ready);
    this.state = PoolState.running;
    this.log.info({ workers: this.size, spares: this.spares }, 'wasm pool started');
  }

  get workers(): number {
    return this.size;
  }

  /** Workers started, initialised and not being replaced: `workers` + spares once the pool has recovered from a kill. */
  get ready(): number {
    let n = 0;
    for (const slot of this.slots) if (slot.ready) n += 1;
    return n;
  }

  /**
   * Runs one module. Resolves `{type:'timeout'}` when `signal` (the invocation's deadline ∪ shutdown)
   * aborts first, whether the run was waiting for a worker or running.
   * @param owner whose run it is (the function), for the fair share @default the module digest
   * @param options.moveInput see `RunOptions`
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when the pool is stopped
   */
  run(msg: PoolRunMessage, signal: AbortSignal, owner: string = msg.digest, options: RunOptions = {}): Promise<PoolRunResult> {
    if (this.state === PoolState.stopped) return Promise.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot run function as the WASM pool is stopped'));
    if (signal.aborted) return Promise.resolve({ type: 'timeout' });
    return new Promise((resolve, reject) => {
      const job: Job = {
        msg,
        // an input of the caller's own, large enough that moving beats copying, and exactly its buffer
        transfer: options.moveInput === true && msg.input.byteLength >= MOVE_INPUT_MIN_BYTES && msg.input.byteLength === msg.input.buffer.byteLength ? [msg.input.buffer as ArrayBuffer] : undefined,
        owner,
        signal,
        resolve,
        reject,
        onQueuedAbort: () => {
          const at = this.queue.indexOf(job);
          if (at < 0) return;
          this.queue.splice(at, 1);
          resolve({ type: 'timeout' });
        },
      };
      signal.addEventListener('abort', job.onQueuedAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Terminates every worker; queued jobs are rejected. Idempotent. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.state = PoolState.stopped;
    this.closing = (async () => {
      for (const job of this.queue.splice(0)) job.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot run function as the invoker is stopping'));
      await Promise.allSettled([...this.slots].map((s) => this.retire(s, 'closed')));
      this.log.info('wasm pool stopped');
    })();
    return this.closing;
  }

  private spawn(): Promise<void> {
    const shared = sharedState();
    const worker = new Worker(join(__dirname, 'worker.js'), { resourceLimits: { maxOldGenerationSizeMb: this.heapMb }, workerData: { shared } });
    const slot: Slot = { worker, ready: false, job: null, preparing: null, holds: new WorkerHoldings(), readyFor: null, shared };
    this.slots.add(slot);
    return new Promise((resolve) => {
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'ready':
            slot.ready = true;
            resolve();
            this.dispatch();
            break;
          case 'idle':
            // it may be late: by now the worker may prepare again (after a newer run), which it says in `shared`
            this.prepared(slot);
            this.dispatch();
            break;
          case 'result':
            this.finish(slot, m);
            break;
          default: {
            const never: never = m;
            throw new Error(`unknown worker message ${JSON.stringify(never)}`);
          }
        }
      });
      worker.on('error', (err: unknown) => {
        if ((err as { code?: unknown }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
          this.log.warn({ heapMb: this.heapMb }, 'wasm worker ran out of heap');
          this.fail(slot, new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Cannot finish function as its WASM worker ran out of JS heap (${this.heapMb} MiB, HAYATE_WORKER_HEAP_MB)`, { cause: WORKER_DIED }));
        } else {
          this.log.error({ err }, 'wasm worker failed');
          this.fail(slot, new HayateError('HAYATE_ERR_INTERNAL', `WASM worker failed: ${err instanceof Error ? err.message : String(err)}`, { cause: WORKER_DIED }));
        }
        resolve();
      });
      worker.on('exit', (code) => {
        if (this.slots.has(slot)) {
          this.log.warn({ code }, 'wasm worker exited unexpectedly');
          this.fail(slot, new HayateError('HAYATE_ERR_INTERNAL', `WASM worker exited with code ${code}`, { cause: WORKER_DIED }));
        }
        resolve();
      });
    });
  }

  /**
   * Starts queued jobs, in order, on free workers, within each function's fair share; a worker preparing a
   * function takes only that function's.
   */
  private dispatch(): void {
    for (let i = 0; i < this.queue.length; ) {
      const job = this.queue[i] as Job;
      if (job.signal.aborted) {
        this.queue.splice(i, 1);
        job.signal.removeEventListener('abort', job.onQueuedAbort);
        job.resolve({ type: 'timeout' });
        continue;
      }
      const slot = this.mayStart(job.owner) ? this.slotFor(job.msg.digest) : undefined;
      if (slot === undefined) {
        if (!this.anyIdle()) return;
        i += 1;
        continue;
      }
      this.queue.splice(i, 1);
      job.signal.removeEventListener('abort', job.onQueuedAbort);
      this.assign(slot, job);
    }
    if (this.queue.length > 0 && this.askIdle()) this.dispatch();
  }

  /**
   * Jobs wait while free workers prepare other functions: asks those workers to say when they are done
   * (`idle`). Workers otherwise end a preparation without a message (one thread wake-up less per call).
   * @returns whether one turned out done already (dispatch again)
   */
  private askIdle(): boolean {
    let done = false;
    for (const slot of this.slots) {
      if (slot.job !== null || slot.preparing === null) continue;
      // the worker clears PREPARING, then reads WANT_IDLE; we set WANT_IDLE, then read PREPARING: one of us sees the other
      Atomics.store(slot.shared, WANT_IDLE, 1);
      if (this.prepared(slot)) done = true;
    }
    return done;
  }

  /** Whether `slot` prepares nothing (any more): the worker says so in shared memory, without a message. */
  private prepared(slot: Slot): boolean {
    if (slot.preparing === null) return true;
    if (Atomics.load(slot.shared, PREPARING) !== 0) return false;
    this.endPreparation(slot);
    return true;
  }

  private mayStart(owner: string): boolean {
    return fairShareAllows(this.slots, this.queue, this.size, owner);
  }

  private anyIdle(): boolean {
    for (const slot of this.slots) if (slot.ready && slot.job === null) return true;
    return false;
  }

  /**
   * A free worker that prepared `digest`'s next instance; else one preparing it (the call waits for that
   * preparation, on its own clock: well under a millisecond, where a fresh instance costs one or more);
   * else any free worker.
   */
  private slotFor(digest: string): Slot | undefined {
    let own: Slot | undefined;
    let free: Slot | undefined;
    for (const slot of this.slots) {
      if (!slot.ready || slot.job !== null) continue;
      if (this.prepared(slot)) {
        if (slot.readyFor === digest) return slot;
        free ??= slot;
      } else if (own === undefined && slot.preparing?.digest === digest) own = slot;
    }
    return own ?? free;
  }

  private assign(slot: Slot, job: Job): void {
    if (slot.preparing?.timer != null) {
      clearTimeout(slot.preparing.timer);
      slot.preparing.timer = null;
    }
    const id = this.nextId++;
    const onAbort = () => this.abortJob(slot, id);
    job.signal.addEventListener('abort', onAbort, { once: true });
    const prepare = !this.slowPrepare.has(job.msg.digest);
    slot.job = { id, job, onAbort, prepare };
    const m = job.msg;
    // field by field, the module only where the worker lacks it: no spread, no delete (both slow paths in V8)
    const msg: RunMessage = { type: 'run', id, digest: m.digest, argv: m.argv, env: m.env, input: m.input, maxOutputBytes: m.maxOutputBytes, maxStderrBytes: m.maxStderrBytes, memoryLimitBytes: m.memoryLimitBytes, memoryPages: m.memoryPages, prepare, files: slot.holds.filesFor(m.files) };
    slot.holds.withModule(msg, m.module);
    slot.worker.postMessage(msg, job.transfer);
  }

  private endPreparation(slot: Slot): void {
    if (slot.preparing?.timer != null) clearTimeout(slot.preparing.timer);
    slot.preparing = null;
  }

  /** A preparation overran: it was nobody's call, so stop it (replace the worker) and never prepare that module ahead again. */
  private abandonPreparation(slot: Slot, digest: string): void {
    if (slot.preparing?.digest !== digest || slot.job !== null) return;
    if (this.prepared(slot)) {
      this.dispatch();
      return;
    }
    if (this.slowPrepare.size >= SLOW_PREPARE_MAX) this.slowPrepare.delete(this.slowPrepare.values().next().value as string);
    this.slowPrepare.add(digest);
    this.log.warn({ digest, limitMs: PREPARE_MAX_MS }, 'wasm preparation abandoned');
    this.endPreparation(slot);
    void this.replace(slot, 'preparation overran');
  }

  /** Tells every worker holding bundle `digest` to let it go (evicted from the bundle cache). */
  forget(digest: string): void {
    const msg: ForgetMessage = { type: 'forget', digest };
    for (const slot of this.slots) if (slot.holds.bundles.delete(digest)) slot.worker.postMessage(msg);
  }

  /** Tells every worker holding the compiled module of `digest` for `memoryLimitBytes` to let it go (evicted from the module cache). */
  forgetModule(digest: string, memoryLimitBytes: number): void {
    const msg: ForgetModuleMessage = { type: 'forget-module', key: moduleKey(digest, memoryLimitBytes) };
    for (const slot of this.slots) if (slot.holds.modules.delete(msg.key)) slot.worker.postMessage(msg);
  }

  /**
   * Hands a compiled module to every worker that does not hold it, ahead of its first run (after a deploy
   * or a prefetch): that run then pays neither the transfer nor a cold worker-side copy.
   */
  preload(digest: string, memoryLimitBytes: number, module: WebAssembly.Module): void {
    const key = moduleKey(digest, memoryLimitBytes);
    for (const slot of this.slots) {
      const msg = slot.ready ? slot.holds.load(key, module) : null;
      if (msg !== null) slot.worker.postMessage(msg);
    }
  }

  /**
   * One free worker (not one that holds a prepared instance of another function, when there is a choice)
   * prepares the first instance of a function just deployed. It counts as preparing, under the same bound
   * as after a run (`PREPARE_MAX_MS`, then abandoned), so a start section that runs long costs its function,
   * not the calls of others. Skipped when every worker is busy, or for a module known to prepare slowly.
   */
  prepareAhead(shape: Omit<PrepareMessage, 'type' | 'module' | 'dropModules'>): void {
    if (this.state !== PoolState.running || this.slowPrepare.has(shape.digest)) return;
    let chosen: Slot | undefined;
    for (const slot of this.slots) {
      if (!slot.ready || slot.job !== null || slot.preparing !== null) continue;
      if (chosen === undefined || (chosen.readyFor !== null && slot.readyFor === null)) chosen = slot;
    }
    if (chosen === undefined) return;
    const slot = chosen;
    const msg: PrepareMessage = { type: 'prepare', ...shape };
    const key = moduleKey(shape.digest, shape.memoryLimitBytes);
    if (!slot.holds.modules.has(key)) return; // `preload` gave it to every ready worker first
    // set before the message leaves: the pool must not take the worker for free until the worker clears it
    Atomics.store(slot.shared, PREPARING, 1);
    this.preparing(slot, shape.digest);
    slot.worker.postMessage(msg);
  }

  /** `slot`'s worker prepares an instance of `digest`: busy for others, abandoned past `PREPARE_MAX_MS`. */
  private preparing(slot: Slot, digest: string): void {
    slot.preparing = { digest, timer: setTimeout(() => this.abandonPreparation(slot, digest), PREPARE_MAX_MS) };
    slot.readyFor = digest;
  }

  private release(slot: Slot): Job | null {
    const current = slot.job;
    if (current === null) return null;
    current.job.signal.removeEventListener('abort', current.onAbort);
    slot.job = null;
    return current.job;
  }

  private finish(slot: Slot, m: RunResult): void {
    if (slot.job?.id !== m.id) return; // a late answer of an aborted run
    const prepare = slot.job.prepare;
    const job = this.release(slot);
    if (job !== null && prepare) {
      // the worker now prepares this function's next instance (the run message said `prepare`)
      this.preparing(slot, job.msg.digest);
    }
    job?.resolve(m);
    this.dispatch();
  }

  /** A run's signal aborted: terminate its worker (stops any WASM loop) and start another. */
  private abortJob(slot: Slot, id: number): void {
    if (slot.job?.id !== id) return;
    this.release(slot)?.resolve({ type: 'timeout' });
    void this.replace(slot, 'timeout');
  }

  private fail(slot: Slot, err: HayateError): void {
    this.release(slot)?.reject(err);
    void this.replace(slot, 'failed');
  }

  private async replace(slot: Slot, reason: string): Promise<void> {
    if (!this.slots.has(slot)) return;
    await this.retire(slot, reason);
    if (this.state === PoolState.stopped) return;
    await this.spawn();
  }

  private async retire(slot: Slot, reason: string): Promise<void> {
    this.slots.delete(slot);
    slot.ready = false;
    this.endPreparation(slot);
    this.release(slot)?.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot finish function as the invoker is stopping'));
    this.log.debug({ reason }, 'wasm worker retired');
    await slot.worker.terminate();
  }
}
