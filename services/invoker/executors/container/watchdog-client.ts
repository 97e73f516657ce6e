/**
 * Client of hayate-watchdog (watchdog/watchdog.c), the entrypoint of every warm container. A
 * `WatchdogClient` keeps its connections to one container's socket and sends one invocation at a time on
 * each (the watchdog serves a connection's requests one after the other); closing a connection during a
 * call makes the watchdog kill that run's process group.
 *
 * Request (little-endian): "HYQ1", u32 timeout_ms, u32 max_output_bytes, u32 max_stderr_bytes, u32 argc,
 *   u32 envc, u32 input_len, argc × (u32 len, bytes), envc × (u32 len, "K=V"), input.
 * Response: "HYR1", u32 outcome, i32 exit_code, i32 signal, u64 startup_ns, u64 exec_ns, u32 stdout_len,
 *   u32 stderr_len, stdout, stderr.   Ping: "HYP1" → "HYP1".
 */
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';

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

/** Makes a value of the bytes so far, with how many it used, or undefined while more are due. */
type Parse<T> = (buf: Buffer[], total: number) => { value: T; used: number } | undefined;

type Header = { outcome: number; exitCode: number; signal: number; startupNs: number; execNs: number; stdoutLen: number; stderrLen: number };

/**
 * Sends `parts` on `sock` and resolves with what `complete` makes of the bytes once it returns a value,
 * with whether exactly those bytes came (so the connection may carry another exchange). Any failure
 * destroys the socket; aborting `signal` too.
 */
function exchange<T>(sock: Socket, parts: Buffer[], complete: Parse<T>, signal?: AbortSignal): Promise<{ value: T; clean: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: Error | null, result?: { value: T; clean: boolean }): void => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
      if (err !== null) {
        sock.destroy();
        reject(err);
      } else {
        resolve(result!);
      }
    };
    const onAbort = (): void => finish(new Error('aborted'));
    const onData = (d: Buffer): void => {
      chunks.push(d);
      total += d.length;
      try {
        const r = complete(chunks, total);
        if (r !== undefined) finish(null, { value: r.value, clean: r.used === total });
      } catch (err: unknown) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => finish(new Error(`connection closed after ${total} bytes`));
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    // one writev: separate writes are separate syscalls, and may wake the watchdog for a partial frame
    sock.cork();
    for (const p of parts) if (p.length > 0) sock.write(p);
    sock.uncork();
  });
}

/** Makes a result of the answer's bytes once they are all there. @throws Error on a bad magic */
function parseAnswer(): Parse<WatchdogResult> {
  let header: Header | null = null;
  return (chunks, total) => {
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
    const value: WatchdogResult = {
      outcome: WatchdogOutcome[header.outcome] ?? 'bad-request',
      exitCode: header.exitCode,
      signal: header.signal,
      startupNs: header.startupNs,
      execNs: header.execNs,
      stdout: buf.subarray(HEADER, HEADER + header.stdoutLen),
      stderr: buf.subarray(HEADER + header.stdoutLen, need),
    };
    return { value, used: need };
  };
}

/** Options of a `WatchdogClient`. */
export interface WatchdogClientOptions {
  /** Connections the watchdog serves at once (its `--max-conns`): never more are kept open. @default 64 */
  maxConnections?: number;
  /** Idle connections kept for the next calls; more are closed when their call ends. @default 4 */
  maxIdle?: number;
  /** Calls per connection, then it is closed, so that the watchdog's handler may retire. @default 1000 */
  maxUses?: number;
}

interface Kept {
  sock: Socket;
  uses: number;
}

/**
 * The invoker's side of one container's watchdog socket. Connections are kept between calls (no connect
 * and accept per call), one call at a time on each, used oldest-idle first: a watchdog handler spawns the
 * next process ahead right after it answers, so the call after it goes to another connection, whose
 * handler's process is ready. One connection is always opened ahead, while fewer than `maxConnections`
 * are open.
 */
export class WatchdogClient {
  private readonly idle: Kept[] = [];
  private open = 0;
  private connectingAhead = false;
  private closed = false;
  private readonly maxConnections: number;
  private readonly maxIdle: number;
  private readonly maxUses: number;

  constructor(
    readonly socketPath: string,
    options: WatchdogClientOptions = {},
  ) {
    this.maxConnections = Math.max(1, options.maxConnections ?? 64);
    this.maxIdle = Math.max(1, options.maxIdle ?? 4);
    this.maxUses = Math.max(1, options.maxUses ?? 1000);
  }

  /**
   * Runs one invocation. Aborting `signal` closes its connection, which makes the watchdog kill the run.
   * @throws Error when the socket cannot be reached or closes before a full answer (the container died)
   */
  async call(req: WatchdogRequest, signal?: AbortSignal): Promise<WatchdogResult> {
    return this.onKept(encode(req), parseAnswer(), (r) => r.outcome !== 'bad-request', signal); // a bad frame ends the connection there
  }

  /** Resolves when the watchdog answers a ping on a kept connection (the socket round trip, no spawn). */
  async ping(): Promise<void> {
    await this.onKept([PING], parsePong, () => true);
  }

  /** One exchange on a kept connection; kept again after it when the answer was clean and `reusable`. */
  private async onKept<T>(parts: Buffer[], complete: Parse<T>, reusable: (value: T) => boolean, signal?: AbortSignal): Promise<T> {
    if (this.closed) throw new Error(`watchdog client of ${this.socketPath} is closed`);
    let kept = this.idle.shift();
    while (kept?.sock.destroyed === true) kept = this.idle.shift();
    kept ??= this.connect();
    if (this.idle.length === 0) this.connectAhead();
    kept.uses += 1;
    kept.sock.ref(); // a call in flight keeps the process alive; an idle connection does not
    const { value, clean } = await exchange(kept.sock, parts, complete, signal);
    if (clean && reusable(value)) this.release(kept);
    else kept.sock.destroy();
    return value;
  }

  /** Closes every idle connection; calls in flight finish on theirs. Idempotent. */
  close(): void {
    this.closed = true;
    for (const k of this.idle.splice(0)) k.sock.destroy();
  }

  private connect(): Kept {
    const sock = createConnection(this.socketPath);
    const kept = { sock, uses: 0 };
    this.open += 1;
    sock.on('error', () => undefined); // an idle connection's error: 'close' follows
    sock.once('close', () => {
      this.open -= 1;
      const i = this.idle.indexOf(kept);
      if (i >= 0) this.idle.splice(i, 1);
    });
    return kept;
  }

  /** Opens one connection ahead of the call that will need it, while there is room. */
  private connectAhead(): void {
    if (this.connectingAhead || this.closed || this.open >= this.maxConnections) return;
    this.connectingAhead = true;
    const kept = this.connect();
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      this.connectingAhead = false;
      if (ok) this.release(kept);
    };
    kept.sock.once('connect', () => settle(true));
    kept.sock.once('close', () => settle(false));
  }

  private release(kept: Kept): void {
    if (kept.sock.destroyed) return;
    if (this.closed || kept.uses >= this.maxUses || this.idle.length >= this.maxIdle || this.open > this.maxConnections) {
      kept.sock.destroy();
      return;
    }
    kept.sock.unref();
    this.idle.push(kept);
  }
}

const PING = Buffer.from('HYP1');

const parsePong: Parse<true> = (chunks, total) => {
  if (total < 4) return undefined;
  if (Buffer.concat(chunks, total).toString('latin1', 0, 4) !== 'HYP1') throw new Error('bad ping answer');
  return { value: true, used: 4 };
};

/** Resolves when the watchdog behind `socketPath` answers a ping on a connection of its own. @throws Error when it does not */
export async function watchdogPing(socketPath: string): Promise<void> {
  const sock = createConnection(socketPath);
  try {
    await exchange(sock, [PING], parsePong);
  } finally {
    sock.destroy();
  }
}
