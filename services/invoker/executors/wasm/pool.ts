/**
 * A fixed pool of WASM worker threads, started and initialised ahead of time so that no run waits for
 * `init()` and no WASM ever runs on the event-loop thread (NATS heartbeats keep flowing during a 2 s run).
 * A run that times out or is aborted terminates its worker (the only way to stop a WASM loop) and a
 * replacement is started at once, so the pool stays full.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../../common/logger';
import { HayateError } from '../../../common/errors';
import type { ForgetMessage, RunFiles, RunMessage, WorkerMessage } from './worker-protocol';

type RunResult = Extract<WorkerMessage, { type: 'result' }>;
export type PoolRunResult = RunResult | { type: 'timeout' };

interface Job {
  msg: Omit<RunMessage, 'id' | 'type'>;
  timeoutMs: number;
  signal: AbortSignal;
  resolve: (r: PoolRunResult) => void;
  reject: (e: unknown) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: { id: number; job: Job; timer: NodeJS.Timeout; onAbort: () => void } | null;
  /** Digests of the bundles this worker holds: each is sent to a worker once, not with every run. */
  bundles: Set<string>;
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

  /**
   * @param size number of worker threads (one per core by default in config)
   */
  constructor(
    private readonly size: number,
    private readonly log: Logger,
  ) {}

  /** Starts every worker and waits until each is ready to run. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.size; i += 1) ready.push(this.spawn());
    await Promise.all(ready);
    this.state = PoolState.running;
    this.log.info({ workers: this.size }, 'wasm pool started');
  }

  get workers(): number {
    return this.size;
  }

  /** Workers started, initialised and not being replaced: `workers` once the pool has recovered from a kill. */
  get ready(): number {
    let n = 0;
    for (const slot of this.slots) if (slot.ready) n += 1;
    return n;
  }

  /** Runs queued; jobs waiting for a worker count here. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Runs one module. Resolves `{type:'timeout'}` when `timeoutMs` passes or `signal` aborts first.
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when the pool is stopped
   */
  run(msg: Omit<RunMessage, 'id' | 'type'>, timeoutMs: number, signal: AbortSignal): Promise<PoolRunResult> {
    if (this.state === PoolState.stopped) return Promise.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot run function as the WASM pool is stopped'));
    if (signal.aborted) return Promise.resolve({ type: 'timeout' });
    return new Promise((resolve, reject) => {
      this.queue.push({ msg, timeoutMs, signal, resolve, reject });
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
    const worker = new Worker(join(__dirname, 'worker.js'));
    const slot: Slot = { worker, ready: false, job: null, bundles: new Set() };
    this.slots.add(slot);
    return new Promise((resolve) => {
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          slot.ready = true;
          resolve();
          this.dispatch();
        } else {
          this.finish(slot, m);
        }
      });
      worker.on('error', (err: unknown) => {
        this.log.error({ err }, 'wasm worker failed');
        this.fail(slot, new HayateError('HAYATE_ERR_INTERNAL', `WASM worker failed: ${err instanceof Error ? err.message : String(err)}`));
        resolve();
      });
      worker.on('exit', (code) => {
        if (this.slots.has(slot)) {
          this.log.warn({ code }, 'wasm worker exited unexpectedly');
          this.fail(slot, new HayateError('HAYATE_ERR_INTERNAL', `WASM worker exited with code ${code}`));
        }
        resolve();
      });
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job !== null) continue;
      const job = this.queue.shift();
      if (job === undefined) return;
      if (job.signal.aborted) {
        job.resolve({ type: 'timeout' });
        continue;
      }
      const id = this.nextId++;
      const timer = setTimeout(() => this.abortJob(slot, id), job.timeoutMs);
      const onAbort = () => this.abortJob(slot, id);
      job.signal.addEventListener('abort', onAbort, { once: true });
      slot.job = { id, job, timer, onAbort };
      const msg: RunMessage = { type: 'run', id, ...job.msg, files: this.filesFor(slot, job.msg.files) };
      slot.worker.postMessage(msg);
    }
  }

  /** Tells every worker holding bundle `digest` to let it go (evicted from the bundle cache). */
  forget(digest: string): void {
    const msg: ForgetMessage = { type: 'forget', digest };
    for (const slot of this.slots) if (slot.bundles.delete(digest)) slot.worker.postMessage(msg);
  }

  /** A run's files as this worker needs them: the shared bundle only the first time it sees it. */
  private filesFor(slot: Slot, files: RunFiles | null): RunFiles | null {
    if (files === null) return null;
    if (slot.bundles.has(files.digest)) return { digest: files.digest, path: files.path, writable: files.writable };
    slot.bundles.add(files.digest);
    return files;
  }

  private release(slot: Slot): Job | null {
    const current = slot.job;
    if (current === null) return null;
    clearTimeout(current.timer);
    current.job.signal.removeEventListener('abort', current.onAbort);
    slot.job = null;
    return current.job;
  }

  private finish(slot: Slot, m: RunResult): void {
    if (slot.job?.id !== m.id) return; // a late answer of an aborted run
    this.release(slot)?.resolve(m);
    this.dispatch();
  }

  /** A run overran or was aborted: terminate its worker (stops any WASM loop) and start another. */
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
    this.release(slot)?.reject(new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot finish function as the invoker is stopping'));
    this.log.debug({ reason }, 'wasm worker retired');
    await slot.worker.terminate();
  }
}
