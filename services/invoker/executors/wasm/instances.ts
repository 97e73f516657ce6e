/**
 * Instances of a function's module and one run of an instance, as a WASM worker thread makes and runs them
 * (worker.ts), and as the event-loop thread does for short functions (inline-lane.ts). Each thread that
 * loads this file has its own spare memories.
 */
import { MEMORY_IMPORT } from '../../../common/wasm-module';
import type { BundleMount } from './wasi/bundle-fs';
import { Wasi } from './wasi/wasi';
import type { RunMessage, WorkerOutcome } from './worker-protocol';

export interface Prepared {
  key: string;
  wasi: Wasi;
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory;
}

type MemoryOf = Pick<RunMessage, 'digest' | 'memoryPages'>;
export type RunShape = Pick<RunMessage, 'digest' | 'argv' | 'env' | 'memoryLimitBytes' | 'memoryPages' | 'files'>;
/** What a run of a prepared instance needs of its message. */
export type RunInput = Pick<RunMessage, 'env' | 'input' | 'maxOutputBytes' | 'maxStderrBytes' | 'memoryLimitBytes'>;

/**
 * Memories of finished runs, zeroed, by module: a run takes one instead of a fresh memory (see
 * `importModuleMemory`). Only memories that did not grow and are small enough that zeroing them is cheaper
 * than mapping new pages are kept; at most `keep` per module (what the caller of `recycle` needs: a worker
 * runs one at a time, the event-loop thread as many as one turn brings), `SPARE_MODULES` modules and
 * `SPARE_MAX_BYTES` in all on a thread. A fresh memory instead costs a large mapping and, once dropped,
 * garbage collection: ≈0.2 ms of CPU per run under load.
 */
const spareMemories = new Map<string, WebAssembly.Memory[]>();
let spareBytes = 0;
export const SPARE_PER_MODULE = 2;
const SPARE_MODULES = 16;
const SPARE_MAX_BYTES = 64 * 1024 * 1024;
const REUSE_MAX_BYTES = 4 * 1024 * 1024;
const PAGE = 65536;

function memoryKey(msg: MemoryOf): string {
  return `${msg.digest}/${msg.memoryPages.min}/${msg.memoryPages.max ?? ''}`;
}

/**
 * A spare memory of the module, else a fresh one. `ahead` (an instance prepared before its call): a fresh
 * memory small enough to be kept after its run is touched here, page by page, so that its run does not take
 * those page faults (a first run of `upper` in process: 170 → 125 µs). A memory for a run waiting now is not:
 * all its pages would cost more than the few the run touches.
 */
function takeMemory(msg: MemoryOf, ahead: boolean): WebAssembly.Memory {
  const spare = spareMemories.get(memoryKey(msg))?.pop();
  if (spare !== undefined) {
    spareBytes -= spare.buffer.byteLength;
    return spare;
  }
  const { min, max } = msg.memoryPages;
  const memory = new WebAssembly.Memory(max === null ? { initial: min } : { initial: min, maximum: max });
  if (ahead && memory.buffer.byteLength <= REUSE_MAX_BYTES) new Uint8Array(memory.buffer).fill(0);
  return memory;
}

/** Gives a run's memory back for another run of its module, zeroed, when it is worth keeping (at most `keep` of the module). */
export function recycle(memory: WebAssembly.Memory, msg: MemoryOf, keep = SPARE_PER_MODULE): void {
  const size = memory.buffer.byteLength;
  if (size !== msg.memoryPages.min * PAGE || size > REUSE_MAX_BYTES || spareBytes + size > SPARE_MAX_BYTES) return;
  const key = memoryKey(msg);
  let list = spareMemories.get(key);
  if (list === undefined) {
    if (spareMemories.size >= SPARE_MODULES) {
      const oldest = spareMemories.keys().next().value as string;
      for (const m of spareMemories.get(oldest) ?? []) spareBytes -= m.buffer.byteLength;
      spareMemories.delete(oldest);
    }
    list = [];
    spareMemories.set(key, list);
  }
  if (list.length >= keep) return;
  // nothing of one run may reach the next: the memory goes back as zeroed as a fresh one
  new Uint8Array(memory.buffer).fill(0);
  list.push(memory);
  spareBytes += size;
}

/** What an instance is prepared for; not the env: it is set on the prepared instance before it starts (see Wasi.setEnv). */
export function keyOf(msg: Pick<RunMessage, 'digest' | 'argv' | 'memoryLimitBytes' | 'files'>): string {
  const files = msg.files === null ? '' : `${msg.files.digest}:${msg.files.path}:${msg.files.writable}`;
  return `${msg.digest}\0${msg.memoryLimitBytes}\0${JSON.stringify(msg.argv)}\0${files}`;
}

/**
 * A fresh instance of `module` for a run of `msg`'s shape.
 * @param fsLimitBytes what its files may hold @default the function's memory cap (tmpfs counts against a container's)
 */
export function instantiate(module: WebAssembly.Module, msg: RunShape, ahead: boolean, files: BundleMount | undefined, fsLimitBytes = msg.memoryLimitBytes): Prepared {
  const wasi = new Wasi({ args: msg.argv, env: msg.env, fsLimitBytes, files });
  const memory = takeMemory(msg, ahead);
  const imports = wasi.imports();
  imports[MEMORY_IMPORT.module] = { [MEMORY_IMPORT.name]: memory };
  const instance = new WebAssembly.Instance(module, imports);
  return { key: keyOf(msg), wasi, instance, memory };
}

const MiB = 1024 * 1024;

/**
 * Why a failed run failed, when a limit explains it. A program whose malloc returns NULL fails one way or
 * another (exit(1), abort(), a trap on a bad pointer) with its memory close to the cap: within the largest
 * allocation it asked for, which the host cannot see, so "close" is 7/8 of the cap. A program that failed
 * after a write to /tmp was refused with ENOSPC ran out of room there.
 */
function limitOf(p: Prepared, memoryLimitBytes: number, outcome: WorkerOutcome): WorkerOutcome {
  const failed = outcome.kind === 'trapped' || (outcome.kind === 'exited' && outcome.exitCode !== 0);
  if (!failed) return outcome;
  if (p.wasi.memoryBytes >= memoryLimitBytes * 0.875) {
    return { kind: 'memory-limit', message: `memory reached ${(p.wasi.memoryBytes / MiB).toFixed(1)} MiB of its cap of ${memoryLimitBytes / MiB} MiB` };
  }
  if (p.wasi.fs.full) return { kind: 'memory-limit', message: `files written (in /tmp, or copies of bundle files) reached their cap of ${memoryLimitBytes / MiB} MiB` };
  return outcome;
}

/** A run's outcome and output, and the times of its exec and teardown (ms, `performance.now()`). */
export interface Ran {
  outcome: WorkerOutcome;
  stdout: Uint8Array;
  stderr: Uint8Array;
  started: number;
  ended: number;
  collected: number;
}

/** Runs `_start` of a prepared instance with `msg`'s env, input and limits, and collects its output. */
export function runInstance(p: Prepared, msg: RunInput): Ran {
  p.wasi.setEnv(msg.env);
  const { stdio } = p.wasi;
  stdio.input = msg.input;
  stdio.stdout.limitBytes = msg.maxOutputBytes;
  stdio.stderr.limitBytes = msg.maxStderrBytes;
  const started = performance.now();
  const ended_ = p.wasi.start(p.instance);
  const ended = performance.now();
  let outcome: WorkerOutcome;
  switch (ended_.kind) {
    case 'exited':
    case 'trapped':
      outcome = limitOf(p, msg.memoryLimitBytes, ended_);
      break;
    case 'output-limit':
      outcome = { kind: 'output-limit', stream: 'stdout' };
      break;
    default: {
      const never: never = ended_;
      throw new Error(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
  return { outcome, stdout: stdio.stdout.take(), stderr: stdio.stderr.take(), started, ended, collected: performance.now() };
}
