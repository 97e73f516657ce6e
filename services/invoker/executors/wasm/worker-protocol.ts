/** Messages between the WASM pool (event-loop thread) and its worker threads. */
import type { BundleDir } from '../../../common/bundle-tar';

/** A function's files for one run. The bundle itself travels once per worker, then the worker keeps it. */
export interface RunFiles {
  digest: string;
  /** Mount point (`/` or an absolute path). */
  path: string;
  writable: boolean;
  /** The bundle, when this worker has not been given it yet: tar bytes over a SharedArrayBuffer and its tree. */
  share?: { data: Uint8Array; root: BundleDir };
}

/** Main → worker: let go of a bundle (evicted on the main thread). */
export interface ForgetMessage {
  type: 'forget';
  digest: string;
}

/** Index in the state a worker shares with the pool: 1 while it prepares the next instance after a run. */
export const PREPARING = 0;
/** Index in the shared state: 1 when the pool waits to hear that the preparation is over (`idle`). */
export const WANT_IDLE = 1;

/** The state a worker shares with its pool (given as `workerData.shared`). */
export function sharedState(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT));
}

/** Main → worker: keep a compiled module ahead of its first run here (`moduleKey`), dropping others first. */
export interface LoadModuleMessage {
  type: 'load-module';
  key: string;
  module: WebAssembly.Module;
  dropModules?: string[];
}

/**
 * Main → worker: prepare the first instance of a function ahead of its first call (after its deploy); the
 * worker counts as preparing (`PREPARING`, set by the pool before it sends this) until it is done.
 */
export interface PrepareMessage {
  type: 'prepare';
  digest: string;
  module?: WebAssembly.Module;
  dropModules?: string[];
  argv: string[];
  env: Record<string, string>;
  memoryLimitBytes: number;
  memoryPages: { min: number; max: number | null };
  files: null;
}

/** Main → worker: let go of a compiled module (evicted from the module cache). */
export interface ForgetModuleMessage {
  type: 'forget-module';
  key: string;
}

/**
 * The key a worker keeps a compiled module under: one module per digest and memory cap (what
 * `compileForRun` compiles for).
 */
export function moduleKey(digest: string, memoryLimitBytes: number): string {
  return `${digest}/${memoryLimitBytes}`;
}

/** Main → worker: run one invocation. */
export interface RunMessage {
  type: 'run';
  id: number;
  digest: string;
  /**
   * The compiled module, the first time this worker runs it (structured-cloning a module costs about
   * 0.2 ms of the event loop's time: it travels once per worker, then the worker keeps it under its
   * `moduleKey`); absent after.
   */
  module?: WebAssembly.Module;
  /** Modules (`moduleKey`) the worker lets go of first: the pool bounds how many each worker keeps. */
  dropModules?: string[];
  /** Full argv, argv[0] = function name. */
  argv: string[];
  env: Record<string, string>;
  input: Uint8Array;
  maxOutputBytes: number;
  maxStderrBytes: number;
  /** Memory cap in bytes, to tell a memory-limit failure from any other. */
  memoryLimitBytes: number;
  /** Limits of the memory the compiled module imports (`hayate.memory`), in 64 KiB pages. */
  memoryPages: { min: number; max: number | null };
  /**
   * Prepare the next instance of this function after the run (its start section included), then say
   * `idle`. The pool counts the worker busy until then and sends it only this function's calls meanwhile.
   */
  prepare: boolean;
  /** The function's files, or null. */
  files: RunFiles | null;
}

/** How a run in a worker ended. */
export type WorkerOutcome =
  | { kind: 'exited'; exitCode: number }
  | { kind: 'trapped'; message: string }
  | { kind: 'output-limit'; stream: 'stdout' }
  | { kind: 'memory-limit'; message: string };

/** Worker → main. */
export type WorkerMessage =
  | { type: 'ready' }
  /**
   * The preparation after a run with `prepare` ended: sent only when the pool asked (`WANT_IDLE`); otherwise
   * the pool reads `PREPARING` when it looks for a free worker.
   */
  | { type: 'idle' }
  | {
      type: 'result';
      id: number;
      outcome: WorkerOutcome;
      stdout: Uint8Array;
      stderr: Uint8Array;
      startupUs: number;
      execUs: number;
      teardownUs: number;
    };
