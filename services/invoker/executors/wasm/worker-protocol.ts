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

/** Main → worker: run one invocation. */
export interface RunMessage {
  type: 'run';
  id: number;
  digest: string;
  module: WebAssembly.Module;
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
  /** The preparation after a run with `prepare` ended (or there was none to do): the worker is free. */
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
