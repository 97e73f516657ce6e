/**
 * A WASM worker thread: runs one WASI command at a time, off the event-loop thread, on hayate's own WASI
 * host (`./wasi`: a fresh in-memory filesystem per run, stdout bounded while it is written).
 *
 * After a run the worker prepares the next instance of the same function (same argv; the env is set when it runs) when the pool
 * asks (`prepare`), so a repeated call pays only `_start`; the pool counts that time as the function's
 * (see pool.ts), as instantiation runs the module's start section.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BundleMount } from './wasi/bundle-fs';
import type { Prepared, RunShape } from './instances';
import { instantiate as makeInstance, keyOf, recycle, runInstance } from './instances';
import type { ForgetMessage, ForgetModuleMessage, LoadModuleMessage, PrepareMessage, RunFiles, RunMessage, WorkerMessage } from './worker-protocol';
import { moduleKey, PREPARING, WANT_IDLE } from './worker-protocol';

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

/** A fresh instance for a run of `msg`'s shape, with the bundle this worker holds for it. */
function instantiate(module: WebAssembly.Module, msg: RunShape, ahead: boolean): Prepared {
  return makeInstance(module, msg, ahead, mountOf(msg.files));
}

let prepared: Prepared | null = null;
/** Shared with the pool: PREPARING and WANT_IDLE (see worker-protocol.ts). */
const shared = (workerData as { shared: Int32Array }).shared;
let lastRun: { module: WebAssembly.Module; msg: RunShape } | null = null;

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
  if (wasPrepared && prepared !== null) p = prepared;
  else p = instantiate(module, msg, false);
  prepared = null;
  const t1 = performance.now();
  const ran = runInstance(p, msg);
  // zeroing the memory for reuse touches every page of it (page faults on a first run: about 0.7 ms here):
  // done after the answer is out (see `settle`)
  unsettled = () => recycle(p.memory, msg);
  const files = msg.files === null ? null : { digest: msg.files.digest, path: msg.files.path, writable: msg.files.writable };
  lastRun = { module, msg: { digest: msg.digest, argv: msg.argv, env: msg.env, memoryLimitBytes: msg.memoryLimitBytes, memoryPages: msg.memoryPages, files } };
  return {
    type: 'result',
    id: msg.id,
    outcome: ran.outcome,
    stdout: ran.stdout,
    stderr: ran.stderr,
    startupUs: Math.round((t1 - t0) * 1000),
    execUs: Math.round((ran.ended - ran.started) * 1000),
    teardownUs: Math.round((ran.collected - ran.ended) * 1000),
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
