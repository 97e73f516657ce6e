/**
 * A WASM worker thread: runs one WASI command at a time, off the event-loop thread, on hayate's own WASI
 * host (`./wasi`: a fresh in-memory filesystem per run, stdout bounded while it is written).
 *
 * After a run the worker prepares the next instance of the same function (same argv; the env is set when it runs) when the pool
 * asks (`prepare`), so a repeated call pays only `_start`; the pool counts that time as the function's
 * (see pool.ts), as instantiation runs the module's start section.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MEMORY_IMPORT } from '../../../common/wasm-module';
import type { BundleMount } from './wasi/bundle-fs';
import { Wasi } from './wasi/wasi';
import type { ForgetMessage, ForgetModuleMessage, LoadModuleMessage, PrepareMessage, RunFiles, RunMessage, WorkerMessage, WorkerOutcome } from './worker-protocol';
import { moduleKey, PREPARING, WANT_IDLE } from './worker-protocol';

interface Prepared {
  key: string;
  wasi: Wasi;
  instance: WebAssembly.Instance;
  memory: WebAssembly.Memory;
}

type MemoryOf = Pick<RunMessage, 'digest' | 'memoryPages'>;
type RunShape = Pick<RunMessage, 'digest' | 'argv' | 'env' | 'memoryLimitBytes' | 'memoryPages' | 'files'>;

/** Compiled modules given to this worker, by `moduleKey`: each arrives once, until the pool drops it. */
const modules = new Map<string, WebAssembly.Module>();

/** Keeps `module` under `key` (when it came with the message), after dropping the modules the pool said to drop. */
function keepModule(key: string, module: WebAssembly.Module | undefined, drop: readonly string[] | undefined): void {
  for (const old of drop ?? []) modules.delete(old);
  if (module !== undefined) modules.set(key, module);
}

/** The compiled module of a run. @throws Error when the pool never sent it (a bug) */
function moduleOf(msg: Pick<RunMessage, 'digest' | 'memoryLimitBytes' | 'module' | 'dropModules'>): WebAssembly.Module {
  const key = moduleKey(msg.digest, msg.memoryLimitBytes);
  keepModule(key, msg.module, msg.dropModules);
  const module = modules.get(key);
  if (module === undefined) throw new Error(`module ${key} was never sent to this worker`);
  return module;
}

/** Bundles given to this worker, by digest: each arrives once (its bytes shared, not copied), until forgotten. */
const bundles = new Map<string, NonNullable<RunFiles['share']>>();

/** The bundle mount of a run, or undefined. @throws Error when the pool never sent the bundle (a bug) */
function mountOf(files: RunFiles | null): BundleMount | undefined {
  if (files === null) return undefined;
  if (files.share !== undefined) bundles.set(files.digest, files.share);
  const shared = bundles.get(files.digest);
  if (shared === undefined) throw new Error(`bundle ${files.digest} was never sent to this worker`);
  return { root: shared.root, data: shared.data, path: files.path, writable: files.writable };
}

/**
 * Memories of finished runs, zeroed, by module: a run takes one instead of a fresh memory (see
 * `importModuleMemory`). Only memories that did not grow and are small enough that zeroing them is cheaper
 * than mapping new pages are kept; at most `SPARE_PER_MODULE` per module and `SPARE_MODULES` modules.
 */
const spareMemories = new Map<string, WebAssembly.Memory[]>();
const SPARE_PER_MODULE = 2;
const SPARE_MODULES = 16;
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
  if (spare !== undefined) return spare;
  const { min, max } = msg.memoryPages;
  const memory = new WebAssembly.Memory(max === null ? { initial: min } : { initial: min, maximum: max });
  if (ahead && memory.buffer.byteLength <= REUSE_MAX_BYTES) new Uint8Array(memory.buffer).fill(0);
  return memory;
}

function recycle(memory: WebAssembly.Memory, msg: MemoryOf): void {
  const size = memory.buffer.byteLength;
  if (size !== msg.memoryPages.min * PAGE || size > REUSE_MAX_BYTES) return;
  const key = memoryKey(msg);
  let list = spareMemories.get(key);
  if (list === undefined) {
    if (spareMemories.size >= SPARE_MODULES) spareMemories.delete(spareMemories.keys().next().value as string);
    list = [];
    spareMemories.set(key, list);
  }
  if (list.length >= SPARE_PER_MODULE) return;
  // nothing of one run may reach the next: the memory goes back as zeroed as a fresh one
  new Uint8Array(memory.buffer).fill(0);
  list.push(memory);
}

// not the env: it is set on the prepared instance before it starts (see Wasi.setEnv)
function keyOf(msg: Pick<RunMessage, 'digest' | 'argv' | 'memoryLimitBytes' | 'files'>): string {
  const files = msg.files === null ? '' : `${msg.files.digest}:${msg.files.path}:${msg.files.writable}`;
  return `${msg.digest}\0${msg.memoryLimitBytes}\0${JSON.stringify(msg.argv)}\0${files}`;
}

function instantiate(module: WebAssembly.Module, msg: RunShape, ahead: boolean): Prepared {
  // files in /tmp may hold as much as the function's memory cap, as tmpfs counts against a container's
  const wasi = new Wasi({ args: msg.argv, env: msg.env, fsLimitBytes: msg.memoryLimitBytes, files: mountOf(msg.files) });
  const memory = takeMemory(msg, ahead);
  const imports = wasi.imports();
  imports[MEMORY_IMPORT.module] = { [MEMORY_IMPORT.name]: memory };
  const instance = new WebAssembly.Instance(module, imports);
  return { key: keyOf(msg), wasi, instance, memory };
}

let prepared: Prepared | null = null;
/** Shared with the pool: PREPARING and WANT_IDLE (see worker-protocol.ts). */
const shared = (workerData as { shared: Int32Array }).shared;
let lastRun: { module: WebAssembly.Module; msg: RunShape } | null = null;

const MiB = 1024 * 1024;

/**
 * Why a failed run failed, when a limit explains it. A program whose malloc returns NULL fails one way or
 * another (exit(1), abort(), a trap on a bad pointer) with its memory close to the cap: within the largest
 * allocation it asked for, which the host cannot see, so "close" is 7/8 of the cap. A program that failed
 * after a write to /tmp was refused with ENOSPC ran out of room there.
 */
function limitOf(p: Prepared, msg: RunMessage, outcome: WorkerOutcome): WorkerOutcome {
  const failed = outcome.kind === 'trapped' || (outcome.kind === 'exited' && outcome.exitCode !== 0);
  if (!failed) return outcome;
  if (p.wasi.memoryBytes >= msg.memoryLimitBytes * 0.875) {
    return { kind: 'memory-limit', message: `memory reached ${(p.wasi.memoryBytes / MiB).toFixed(1)} MiB of its cap of ${msg.memoryLimitBytes / MiB} MiB` };
  }
  if (p.wasi.fs.full) return { kind: 'memory-limit', message: `files written (in /tmp, or copies of bundle files) reached their cap of ${msg.memoryLimitBytes / MiB} MiB` };
  return outcome;
}

/** The rest of the last run's teardown, done after its answer left. */
let unsettled: (() => void) | null = null;

function settle(): void {
  const rest = unsettled;
  unsettled = null;
  rest?.();
}

function run(msg: RunMessage): WorkerMessage {
  const t0 = performance.now();
  settle();
  const module = moduleOf(msg);
  let p: Prepared;
  const wasPrepared = prepared !== null && prepared.key === keyOf(msg);
  if (wasPrepared && prepared !== null) {
    p = prepared;
    p.wasi.setEnv(msg.env);
  } else p = instantiate(module, msg, false);
  prepared = null;
  const { stdio } = p.wasi;
  stdio.input = msg.input;
  stdio.stdout.limitBytes = msg.maxOutputBytes;
  stdio.stderr.limitBytes = msg.maxStderrBytes;
  const t1 = performance.now();
  const ended = p.wasi.start(p.instance);
  const t2 = performance.now();
  let outcome: WorkerOutcome;
  switch (ended.kind) {
    case 'exited':
    case 'trapped':
      outcome = limitOf(p, msg, ended);
      break;
    case 'output-limit':
      outcome = { kind: 'output-limit', stream: 'stdout' };
      break;
    default: {
      const never: never = ended;
      throw new Error(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
  const stdout = stdio.stdout.take();
  const stderr = stdio.stderr.take();
  // zeroing the memory for reuse touches every page of it (page faults on a first run: about 0.7 ms here):
  // done after the answer is out (see `settle`)
  unsettled = () => recycle(p.memory, msg);
  const t3 = performance.now();
  const files = msg.files === null ? null : { digest: msg.files.digest, path: msg.files.path, writable: msg.files.writable };
  lastRun = { module, msg: { digest: msg.digest, argv: msg.argv, env: msg.env, memoryLimitBytes: msg.memoryLimitBytes, memoryPages: msg.memoryPages, files } };
  return {
    type: 'result',
    id: msg.id,
    outcome,
    stdout,
    stderr,
    startupUs: Math.round((t1 - t0) * 1000),
    execUs: Math.round((t2 - t1) * 1000),
    teardownUs: Math.round((t3 - t2) * 1000),
  };
}

/** Prepares the next instance of the function just run, while nothing else is waiting. */
function prepareNext(): void {
  if (lastRun === null || prepared !== null) return;
  try {
    prepared = instantiate(lastRun.module, lastRun.msg, true);
  } catch {
    prepared = null; // the next run instantiates on demand and reports the error itself
  }
}

/**
 * A module or bundle was let go of: when it is the last run's, the prepared instance (always of the last
 * run) and what would prepare the next let go of it too.
 */
function forgetLastRunIf(itsOwn: boolean): void {
  if (!itsOwn) return;
  lastRun = null;
  prepared = null;
}

/** Says that the preparation is over: in `shared`, and in an `idle` message when the pool waits for it. */
function preparationOver(port: NonNullable<typeof parentPort>): void {
  Atomics.store(shared, PREPARING, 0);
  if (Atomics.exchange(shared, WANT_IDLE, 0) === 1) port.postMessage({ type: 'idle' } satisfies WorkerMessage);
}

/** Prepares the first instance of a function just deployed (the pool set PREPARING before it asked). */
function prepareFirst(msg: PrepareMessage): void {
  try {
    const module = moduleOf(msg);
    const shape: RunShape = { digest: msg.digest, argv: msg.argv, env: msg.env, memoryLimitBytes: msg.memoryLimitBytes, memoryPages: msg.memoryPages, files: null };
    lastRun = { module, msg: shape };
    prepared = null;
    prepareNext();
  } catch {
    prepared = null; // its first run instantiates on demand and reports the error itself
  }
  if (parentPort !== null) preparationOver(parentPort);
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('wasm worker must run in a worker thread');
  port.on('message', (msg: RunMessage | ForgetMessage | ForgetModuleMessage | LoadModuleMessage | PrepareMessage) => {
    if (msg.type === 'prepare') {
      prepareFirst(msg);
      return;
    }
    if (msg.type === 'load-module') {
      keepModule(msg.key, msg.module, msg.dropModules);
      return;
    }
    if (msg.type === 'forget-module') {
      modules.delete(msg.key);
      forgetLastRunIf(lastRun !== null && moduleKey(lastRun.msg.digest, lastRun.msg.memoryLimitBytes) === msg.key);
      return;
    }
    if (msg.type === 'forget') {
      bundles.delete(msg.digest);
      forgetLastRunIf(lastRun?.msg.files?.digest === msg.digest);
      return;
    }
    let reply: WorkerMessage;
    try {
      reply = run(msg);
    } catch (err: unknown) {
      // instantiation failed (e.g. a start function trapped): report it as a trap of this run
      const message = err instanceof Error ? err.message : String(err);
      lastRun = null; // nothing to prepare: the next instance would be the previous function's
      reply = { type: 'result', id: msg.id, outcome: { kind: 'trapped', message }, stdout: new Uint8Array(0), stderr: new Uint8Array(0), startupUs: 0, execUs: 0, teardownUs: 0 };
    }
    if (msg.prepare) Atomics.store(shared, PREPARING, 1);
    const transfer = reply.type === 'result' ? [reply.stdout.buffer, reply.stderr.buffer].filter((b, i, a) => b.byteLength > 0 && a.indexOf(b) === i) : [];
    port.postMessage(reply, transfer as ArrayBuffer[]);
    // after the answer is out; with `prepare`, the pool counts this worker busy until it is done (issue 11, finding 6)
    setImmediate(() => {
      settle();
      if (!msg.prepare) return;
      prepareNext();
      preparationOver(port);
    });
  });
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
}

void main();
