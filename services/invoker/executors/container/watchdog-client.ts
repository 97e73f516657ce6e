/**
 * Client of hayate-watchdog (watchdog/watchdog.c), the entrypoint of every warm container. One unix-socket
 * connection per invocation; closing the connection early makes the watchdog kill the run's process group.
 *
 * Request (little-endian): "HYQ1", u32 timeout_ms, u32 max_output_bytes, u32 max_stderr_bytes, u32 argc,
 *   u32 envc, u32 input_len, argc × (u32 len, bytes), envc × (u32 len, "K=V"), input.
 * Response: "HYR1", u32 outcome, i32 exit_code, i32 signal, u64 startup_ns, u64 exec_ns, u32 stdout_len,
 *   u32 stderr_len, stdout, stderr.   Ping: "HYP1" → "HYP1".
 */
import { createConnection } from 'node:net';

/** Watchdog outcome codes, in wire order. */
export const WatchdogOutcome = ['exited', 'timeout', 'output-limit', 'spawn-failed', 'signaled', 'bad-request'] as const;
export type WatchdogOutcome = (typeof WatchdogOutcome)[number];

export interface WatchdogRequest {
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  input: Uint8Array;
  timeoutMs: number;
  maxOutputBytes: number;
  maxStderrBytes: number;
}

export interface WatchdogResult {
  outcome: WatchdogOutcome;
  exitCode: number;
  signal: number;
  startupNs: number;
  execNs: number;
  stdout: Buffer;
  stderr: Buffer;
}

const HEADER = 40;

function encode(req: WatchdogRequest): Buffer[] {
  const strings = [...req.args, ...Object.entries(req.env).map(([k, v]) => `${k}=${v}`)].map((s) => Buffer.from(s));
  const head = Buffer.alloc(28 + strings.reduce((n, s) => n + 4 + s.length, 0));
  head.write('HYQ1', 0, 'latin1');
  head.writeUInt32LE(req.timeoutMs >>> 0, 4);
  head.writeUInt32LE(req.maxOutputBytes >>> 0, 8);
  head.writeUInt32LE(req.maxStderrBytes >>> 0, 12);
  head.writeUInt32LE(req.args.length, 16);
  head.writeUInt32LE(strings.length - req.args.length, 20);
  head.writeUInt32LE(req.input.byteLength, 24);
  let off = 28;
  for (const s of strings) {
    head.writeUInt32LE(s.length, off);
    s.copy(head, off + 4);
    off += 4 + s.length;
  }
  return [head, Buffer.from(req.input.buffer, req.input.byteOffset, req.input.byteLength)];
}

/** Sends `parts` and resolves with what `complete` makes of the bytes once it returns a value. */
function exchange<T>(socketPath: string, parts: Buffer[], complete: (buf: Buffer[], total: number) => T | undefined, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socketPath);
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: Error | null, value?: T): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err !== null) reject(err);
      else resolve(value as T);
    };
    const onAbort = (): void => finish(new Error('aborted'));
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    for (const p of parts) if (p.length > 0) sock.write(p);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      try {
        const value = complete(chunks, total);
        if (value !== undefined) finish(null, value);
      } catch (err: unknown) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`connection closed after ${total} bytes`)));
  });
}

/**
 * Runs one invocation in the container behind `socketPath`. Aborting `signal` closes the connection,
 * which makes the watchdog kill the run.
 * @throws Error when the socket cannot be reached or closes before a full answer (the container died)
 */
export function watchdogCall(socketPath: string, req: WatchdogRequest, signal?: AbortSignal): Promise<WatchdogResult> {
  let header: { outcome: number; exitCode: number; signal: number; startupNs: number; execNs: number; stdoutLen: number; stderrLen: number } | null = null;
  return exchange(
    socketPath,
    encode(req),
    (chunks, total) => {
      if (header === null) {
        if (total < HEADER) return undefined;
        const b = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
        chunks.splice(0, chunks.length, b);
        if (b.toString('latin1', 0, 4) !== 'HYR1') throw new Error(`bad answer magic ${JSON.stringify(b.toString('latin1', 0, 4))}`);
        header = { outcome: b.readUInt32LE(4), exitCode: b.readInt32LE(8), signal: b.readInt32LE(12), startupNs: Number(b.readBigUInt64LE(16)), execNs: Number(b.readBigUInt64LE(24)), stdoutLen: b.readUInt32LE(32), stderrLen: b.readUInt32LE(36) };
      }
      const need = HEADER + header.stdoutLen + header.stderrLen;
      if (total < need) return undefined;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      return {
        outcome: WatchdogOutcome[header.outcome] ?? 'bad-request',
        exitCode: header.exitCode,
        signal: header.signal,
        startupNs: header.startupNs,
        execNs: header.execNs,
        stdout: buf.subarray(HEADER, HEADER + header.stdoutLen),
        stderr: buf.subarray(HEADER + header.stdoutLen, need),
      };
    },
    signal,
  );
}

/** Resolves when the watchdog behind `socketPath` answers a ping. @throws Error when it does not */
export function watchdogPing(socketPath: string): Promise<void> {
  return exchange(socketPath, [Buffer.from('HYP1')], (chunks, total) => {
    if (total < 4) return undefined;
    if (Buffer.concat(chunks, total).toString('latin1', 0, 4) !== 'HYP1') throw new Error('bad ping answer');
    return true;
  }).then(() => undefined);
}
