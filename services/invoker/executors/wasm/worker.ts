/**
 * A WASM worker thread: runs one WASI command at a time with @wasmer/wasi, off the event-loop thread.
 *
 * Measured on this machine (NOTES.md, and re-measured): `init()` ≈ 110 ms once per thread; per run,
 * `new WASI` + `getImports` + `new WebAssembly.Instance` ≈ 330 µs and `start` of a trivial program ≈ 180 µs.
 * So after each run the worker prepares the next instance of the same function (same argv and env) while
 * it is idle: a repeated call then pays only `start`. stdout and stderr are taken over at `fd_write`, so
 * the output limit is enforced while the program writes (never buffering past it), and stderr is truncated.
 */
import { parentPort } from 'node:worker_threads';
import { init, WASI } from '@wasmer/wasi';
import type { RunMessage, WorkerMessage, WorkerOutcome } from './worker-protocol';

const WASI_ERRNO_SUCCESS = 0;
const WASI_ERRNO_FBIG = 22;

interface Prepared {
  key: string;
  wasi: WASI;
  instance: WebAssembly.Instance;
  sink: OutputSink;
}

/** Collects one run's stdout and stderr within their limits. */
class OutputSink {
  memory: WebAssembly.Memory | null = null;
  maxOutputBytes = 0;
  maxStderrBytes = 0;
  readonly stdout: Uint8Array[] = [];
  readonly stderr: Uint8Array[] = [];
  stdoutBytes = 0;
  stderrBytes = 0;
  outputLimitHit = false;

  /** `fd_write` for fds 1 and 2; returns a WASI errno, or undefined to let WASI handle other fds. */
  write(fd: number, iovs: number, iovsLen: number, nwritten: number): number | undefined {
    if ((fd !== 1 && fd !== 2) || this.memory === null) return undefined;
    const view = new DataView(this.memory.buffer);
    const bytes = new Uint8Array(this.memory.buffer);
    let total = 0;
    for (let i = 0; i < iovsLen; i += 1) {
      const ptr = view.getUint32(iovs + i * 8, true);
      const len = view.getUint32(iovs + i * 8 + 4, true);
      if (len === 0) continue;
      if (fd === 1) {
        if (this.stdoutBytes + len > this.maxOutputBytes) {
          this.outputLimitHit = true;
          // Stop the program here: a trap unwinds `start`, and the flag tells the cause.
          throw new Error('output limit exceeded');
        }
        this.stdout.push(bytes.slice(ptr, ptr + len));
        this.stdoutBytes += len;
      } else {
        const room = Math.max(0, this.maxStderrBytes - this.stderrBytes);
        if (room > 0) {
          const take = Math.min(room, len);
          this.stderr.push(bytes.slice(ptr, ptr + take));
          this.stderrBytes += take;
        }
      }
      total += len;
    }
    view.setUint32(nwritten, total, true);
    return fd === 1 && this.outputLimitHit ? WASI_ERRNO_FBIG : WASI_ERRNO_SUCCESS;
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function keyOf(msg: Pick<RunMessage, 'digest' | 'argv' | 'env'>): string {
  return `${msg.digest}\0${JSON.stringify(msg.argv)}\0${JSON.stringify(msg.env)}`;
}

function instantiate(module: WebAssembly.Module, argv: string[], env: Record<string, string>, key: string): Prepared {
  const wasi = new WASI({ args: argv, env });
  // A fresh in-memory filesystem per run: nothing of the host, and a writable /tmp.
  wasi.fs.createDir('/tmp');
  const sink = new OutputSink();
  const imports = wasi.getImports(module) as Record<string, Record<string, unknown>>;
  for (const ns of ['wasi_snapshot_preview1', 'wasi_unstable']) {
    const table = imports[ns];
    const original = table?.['fd_write'];
    if (table === undefined || typeof original !== 'function') continue;
    table['fd_write'] = (fd: number, iovs: number, iovsLen: number, nwritten: number): number =>
      sink.write(fd, iovs, iovsLen, nwritten) ?? (original as (...a: number[]) => number)(fd, iovs, iovsLen, nwritten);
  }
  const instance = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
  wasi.instantiate(instance);
  const memory = instance.exports['memory'];
  sink.memory = memory instanceof WebAssembly.Memory ? memory : null;
  return { key, wasi, instance, sink };
}

let prepared: Prepared | null = null;
let lastModule: { digest: string; module: WebAssembly.Module; argv: string[]; env: Record<string, string> } | null = null;

function discardPrepared(): void {
  prepared?.wasi.free();
  prepared = null;
}

function run(msg: RunMessage): WorkerMessage {
  const t0 = performance.now();
  const key = keyOf(msg);
  let p: Prepared;
  let wasPrepared = false;
  if (prepared !== null && prepared.key === key) {
    p = prepared;
    wasPrepared = true;
    prepared = null;
  } else {
    discardPrepared();
    p = instantiate(msg.module, msg.argv, msg.env, key);
  }
  p.sink.maxOutputBytes = msg.maxOutputBytes;
  p.sink.maxStderrBytes = msg.maxStderrBytes;
  if (msg.input.byteLength > 0) p.wasi.setStdinBuffer(msg.input);
  const t1 = performance.now();
  let outcome: WorkerOutcome;
  try {
    const exitCode = p.wasi.start(p.instance);
    outcome = { kind: 'exited', exitCode };
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    outcome = p.sink.outputLimitHit ? { kind: 'output-limit', stream: 'stdout' } : { kind: 'trapped', message };
  }
  const t2 = performance.now();
  const memoryBytes = p.sink.memory?.buffer.byteLength ?? 0;
  // A program that fails once its memory is at the cap most likely failed for want of memory
  // (malloc returned NULL, then it trapped or gave up).
  if (memoryBytes >= msg.memoryLimitBytes && (outcome.kind === 'trapped' || (outcome.kind === 'exited' && outcome.exitCode !== 0))) {
    outcome = { kind: 'memory-limit', message: `memory reached its cap of ${msg.memoryLimitBytes / 1048576} MiB` };
  }
  const stdout = concat(p.sink.stdout, p.sink.stdoutBytes);
  const stderr = concat(p.sink.stderr, p.sink.stderrBytes);
  p.wasi.free();
  const t3 = performance.now();
  lastModule = { digest: msg.digest, module: msg.module, argv: msg.argv, env: msg.env };
  return {
    type: 'result',
    id: msg.id,
    outcome,
    stdout,
    stderr,
    prepared: wasPrepared,
    startupUs: Math.round((t1 - t0) * 1000),
    execUs: Math.round((t2 - t1) * 1000),
    teardownUs: Math.round((t3 - t2) * 1000),
  };
}

/** Prepares the next instance of the function just run, while nothing else is waiting. */
function prepareNext(): void {
  if (lastModule === null || prepared !== null) return;
  const { digest, module, argv, env } = lastModule;
  try {
    prepared = instantiate(module, argv, env, keyOf({ digest, argv, env }));
  } catch {
    prepared = null; // the next run instantiates on demand and reports the error itself
  }
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('wasm worker must run in a worker thread');
  await init();
  port.on('message', (msg: RunMessage) => {
    let reply: WorkerMessage;
    try {
      reply = run(msg);
    } catch (err: unknown) {
      // instantiation failed (e.g. a start function trapped): report it as a trap of this run
      const message = err instanceof Error ? err.message : String(err);
      reply = { type: 'result', id: msg.id, outcome: { kind: 'trapped', message }, stdout: new Uint8Array(0), stderr: new Uint8Array(0), prepared: false, startupUs: 0, execUs: 0, teardownUs: 0 };
    }
    const transfer = reply.type === 'result' ? [reply.stdout.buffer, reply.stderr.buffer].filter((b, i, a) => b.byteLength > 0 && a.indexOf(b) === i) : [];
    port.postMessage(reply, transfer as ArrayBuffer[]);
    setImmediate(prepareNext);
  });
  port.postMessage({ type: 'ready' } satisfies WorkerMessage);
}

void main();
