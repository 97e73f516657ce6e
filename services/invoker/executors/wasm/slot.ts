/**
 * One worker of the WASM pool as the pool sees it (`Slot`), a run waiting for or given to one (`Job`), and
 * what each worker holds so that it is sent once, not with every run (`WorkerHoldings`): the compiled
 * modules (structured-cloning a module costs about 0.2 ms of the event loop) and the shared bundles.
 */
import type { Worker } from 'node:worker_threads';
import type { LoadModuleMessage, RunFiles, RunMessage, WorkerMessage } from './worker-protocol';
import { moduleKey } from './worker-protocol';

/** Compiled modules a worker keeps (least recently run out first); the module cache bounds their bytes. */
const MODULES_PER_WORKER = 256;

/** What a caller gives to run a module; the pool adds the id and whether to prepare ahead. */
export type PoolRunMessage = Omit<RunMessage, 'id' | 'type' | 'prepare'>;

/**
 * From this size an input the caller owns is moved to the worker (a transfer) instead of copied by the
 * structured clone: a 5 MiB input's copy cost the event loop ≈10 ms per call here, most of it page faults.
 * Smaller inputs are copied: a transfer costs more than a copy of a few KiB.
 */
export const MOVE_INPUT_MIN_BYTES = 256 * 1024;

/** How a run's message goes to its worker. */
export interface RunOptions {
  /**
   * The input's ArrayBuffer belongs to this run alone (exactly its bytes, nothing else refers to it): it is
   * moved to the worker, and is empty (detached) here once the run is given to one. @default false
   */
  moveInput?: boolean;
}

export type PoolRunResult = Extract<WorkerMessage, { type: 'result' }> | { type: 'timeout' };

export interface Job {
  msg: PoolRunMessage;
  /** What moves to the worker with the run: the input's buffer when the caller owns it (see `RunOptions`). */
  transfer: ArrayBuffer[] | undefined;
  /** Whose run it is (the function): the unit of the fair share. */
  owner: string;
  signal: AbortSignal;
  /** Leaves the queue early when the signal aborts while the job waits for a worker. */
  onQueuedAbort: () => void;
  resolve: (r: PoolRunResult) => void;
  reject: (e: unknown) => void;
}

export interface Slot {
  worker: Worker;
  ready: boolean;
  job: { id: number; job: Job; onAbort: () => void; prepare: boolean } | null;
  /** The worker is preparing the next instance of `digest`; `timer` abandons it (null once a call of it waits). */
  preparing: { digest: string; timer: NodeJS.Timeout | null } | null;
  holds: WorkerHoldings;
  /** Digest of the function whose next instance this worker has prepared (or prepares), as far as the pool knows. */
  readyFor: string | null;
  /** Shared with the worker: whether it is preparing (`PREPARING`), whether the pool waits to hear the end (`WANT_IDLE`). */
  shared: Int32Array;
}

/**
 * Whether a run of `owner` may take a free worker now: always while fewer than `size` run; beyond that
 * (a spare) only while `owner` runs fewer than its fair share (size ÷ functions running or waiting).
 */
export function fairShareAllows(slots: Iterable<Slot>, queue: readonly Job[], size: number, owner: string): boolean {
  let busy = 0;
  let mine = 0;
  const owners = new Set<string>([owner]);
  for (const s of slots) {
    if (s.job === null) continue;
    busy += 1;
    owners.add(s.job.job.owner);
    if (s.job.job.owner === owner) mine += 1;
  }
  if (busy < size) return true;
  for (const j of queue) owners.add(j.owner);
  return mine < Math.max(1, Math.floor(size / owners.size));
}

/** What one worker holds, as the pool recorded it when it sent each. */
export class WorkerHoldings {
  /** Digests of the bundles. */
  readonly bundles = new Set<string>();
  /** Keys (`moduleKey`) of the compiled modules, least recently run first. */
  readonly modules = new Set<string>();

  /** A run's files as this worker needs them: the shared bundle only the first time it sees it. */
  filesFor(files: RunFiles | null): RunFiles | null {
    if (files === null) return null;
    if (this.bundles.has(files.digest)) return { digest: files.digest, path: files.path, writable: files.writable };
    this.bundles.add(files.digest);
    return files;
  }

  /** Adds the module to a run message only when the worker lacks it. */
  withModule(msg: RunMessage, module: WebAssembly.Module | undefined): void {
    const key = moduleKey(msg.digest, msg.memoryLimitBytes);
    if (this.modules.delete(key)) {
      this.modules.add(key);
      return;
    }
    msg.module = module;
    const dropped = this.hold(key);
    if (dropped !== undefined) msg.dropModules = [dropped];
  }

  /** The message that gives the worker module `key` ahead of its runs, or null when it holds it already. */
  load(key: string, module: WebAssembly.Module): LoadModuleMessage | null {
    if (this.modules.has(key)) return null;
    const msg: LoadModuleMessage = { type: 'load-module', key, module };
    const dropped = this.hold(key);
    if (dropped !== undefined) msg.dropModules = [dropped];
    return msg;
  }

  /** Records module `key`; returns the least recently run one the worker must drop beyond `MODULES_PER_WORKER`. */
  private hold(key: string): string | undefined {
    this.modules.add(key);
    if (this.modules.size <= MODULES_PER_WORKER) return undefined;
    const oldest = this.modules.values().next().value as string;
    this.modules.delete(oldest);
    return oldest;
  }
}
