/**
 * hayate's WASI preview1 (and `wasi_unstable`) host for one run of a command module: args, env, clocks,
 * randomness, `poll_oneoff` (sleeping really sleeps, on Atomics.wait, without burning CPU), `proc_exit`, the
 * standard streams and a fresh in-memory filesystem. No call reaches the host: there is no host path, no
 * socket, no process.
 *
 * It replaces @wasmer/wasi 1.2.2 in the worker, whose in-memory filesystem corrupts files (pwrite inserts,
 * after which reads fail with EINVAL), traps on pread past the end of a file, has no /dev, returns success
 * for mkdir of an existing or orphan path, and whose poll_oneoff traps (see docs/isolation.md).
 */
import { randomFillSync } from 'node:crypto';
import { Clockid, Errno, EVENT_FD_READWRITE_HANGUP, Eventtype, Layout, SUBSCRIPTION_CLOCK_ABSTIME } from './abi';
import { FdTable } from './fd-table';
import { fdCalls, readiness } from './fd-calls';
import type { FsContext } from './fs-context';
import { pathCalls } from './path-calls';
import { GuestMemory } from './guest-memory';
import type { BundleMount } from './bundle-fs';
import { mountBundle } from './bundle-fs';
import { MemFs } from './memfs';
import { OutputLimitExceeded, Stdio } from './stdio';

/** Thrown by `proc_exit` to unwind `_start` with the program's exit code. */
export class ProcExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** How a run ended. */
export type WasiOutcome = { kind: 'exited'; exitCode: number } | { kind: 'trapped'; message: string } | { kind: 'output-limit' };

export interface WasiOptions {
  /** argv, argv[0] included */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Bytes the function may keep in its filesystem (ENOSPC past them). */
  fsLimitBytes: number;
  /** A bundle of files to show (bundle-fs.ts). @default none */
  files?: BundleMount;
}

type Call = (...args: never[]) => number;

const encoder = new TextEncoder();
/** One shared cell to sleep on: nothing ever notifies it, so a wait lasts its full timeout. */
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Resolution claimed by every clock: hrtime counts nanoseconds, the wall clock is read to ~1 µs. */
const CLOCK_RESOLUTION_NS = 1000n;
/** preview0's `subscription` has an extra u64 `identifier` before the clock fields, and is 56 bytes. */
const PREVIEW0_SUBSCRIPTION_SIZE = 56;

function cStrings(values: readonly string[]): Uint8Array[] {
  return values.map((v) => encoder.encode(`${v}\0`));
}

function wallClockOffsetNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - process.hrtime.bigint();
}

export class Wasi {
  readonly stdio = new Stdio();
  readonly fs: MemFs;
  private readonly mem = new GuestMemory();
  private readonly fds: FdTable;
  private readonly args: Uint8Array[];
  private readonly env: Uint8Array[];
  private wallOffsetNs = wallClockOffsetNs();
  private startedNs = process.hrtime.bigint();

  constructor(options: WasiOptions) {
    this.args = cStrings(options.args);
    this.env = cStrings(Object.entries(options.env).map(([k, v]) => `${k}=${v}`));
    this.fs = new MemFs(options.fsLimitBytes, () => this.realtimeNs());
    if (options.files !== undefined) mountBundle(this.fs, options.files);
    this.fds = new FdTable(this.fs);
  }

  /** Bytes of linear memory the instance holds now. */
  get memoryBytes(): number {
    return this.mem.byteLength;
  }

  private realtimeNs(): bigint {
    return process.hrtime.bigint() + this.wallOffsetNs;
  }

  /** The import object: `wasi_snapshot_preview1` and `wasi_unstable`. */
  imports(): WebAssembly.Imports {
    const ctx: FsContext = { mem: this.mem, fs: this.fs, fds: this.fds, stdio: this.stdio, now: () => this.realtimeNs() };
    const common = this.commonCalls();
    return {
      wasi_snapshot_preview1: { ...fdCalls(ctx), ...pathCalls(ctx), ...common, poll_oneoff: this.pollOneoff(ctx, false) },
      wasi_unstable: { ...fdCalls(ctx, true), ...pathCalls(ctx, true), ...common, poll_oneoff: this.pollOneoff(ctx, true) },
    };
  }

  /**
   * Runs `_start` of an instance made with `imports()`.
   * @returns the exit code, a trap with its message, or the stdout limit
   */
  start(instance: WebAssembly.Instance): WasiOutcome {
    const memory = instance.exports['memory'];
    const start = instance.exports['_start'];
    if (!(memory instanceof WebAssembly.Memory) || typeof start !== 'function') return { kind: 'trapped', message: 'module exports no memory or no _start' };
    this.mem.bind(memory);
    // a prepared instance may start seconds after it was made: read the clocks afresh
    this.wallOffsetNs = wallClockOffsetNs();
    this.startedNs = process.hrtime.bigint();
    try {
      (start as () => void)();
      return { kind: 'exited', exitCode: 0 };
    } catch (err: unknown) {
      if (err instanceof ProcExit) return { kind: 'exited', exitCode: err.code };
      if (err instanceof OutputLimitExceeded) return { kind: 'output-limit' };
      return { kind: 'trapped', message: err instanceof Error ? err.message : String(err) };
    }
  }

  private writeStrings(values: Uint8Array[], ptrs: number, buf: number): number {
    const view = this.mem.view;
    const u8 = this.mem.u8;
    let at = buf;
    values.forEach((v, i) => {
      view.setUint32(ptrs + i * 4, at, true);
      u8.set(v, at);
      at += v.length;
    });
    return Errno.SUCCESS;
  }

  private sizes(values: Uint8Array[], countPtr: number, sizePtr: number): number {
    const view = this.mem.view;
    view.setUint32(countPtr, values.length, true);
    view.setUint32(sizePtr, values.reduce((n, v) => n + v.length, 0), true);
    return Errno.SUCCESS;
  }

  /** Monotonic nanoseconds of a clock, or null for an unknown clock id. */
  private clockNs(id: number): bigint | null {
    switch (id) {
      case Clockid.REALTIME:
        return this.realtimeNs();
      case Clockid.MONOTONIC:
        return process.hrtime.bigint();
      case Clockid.PROCESS_CPUTIME_ID:
      case Clockid.THREAD_CPUTIME_ID:
        // a worker thread cannot read its own CPU time: time since the run started stands for it
        return process.hrtime.bigint() - this.startedNs;
      default:
        return null;
    }
  }

  private commonCalls(): Record<string, Call> {
    const mem = this.mem;
    const fds = this.fds;
    const notSocket = (fd: number): number => (fds.get(fd) === undefined ? Errno.BADF : Errno.NOTSOCK);
    const calls = {
      args_sizes_get: (countPtr: number, sizePtr: number) => this.sizes(this.args, countPtr, sizePtr),
      args_get: (ptrs: number, buf: number) => this.writeStrings(this.args, ptrs, buf),
      environ_sizes_get: (countPtr: number, sizePtr: number) => this.sizes(this.env, countPtr, sizePtr),
      environ_get: (ptrs: number, buf: number) => this.writeStrings(this.env, ptrs, buf),
      clock_res_get: (id: number, ptr: number): number => {
        if (this.clockNs(id) === null) return Errno.INVAL;
        mem.view.setBigUint64(ptr, CLOCK_RESOLUTION_NS, true);
        return Errno.SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, ptr: number): number => {
        const ns = this.clockNs(id);
        if (ns === null) return Errno.INVAL;
        mem.view.setBigUint64(ptr, ns, true);
        return Errno.SUCCESS;
      },
      random_get: (ptr: number, len: number): number => {
        const dst = mem.bytes(ptr, len);
        if (dst === null) return Errno.FAULT;
        randomFillSync(dst);
        return Errno.SUCCESS;
      },
      proc_exit: (code: number): never => {
        // as a POSIX wait status carries it (exit(-1) is 255), and as the container tier reports it
        throw new ProcExit(code & 0xff);
      },
      proc_raise: () => Errno.NOSYS,
      sched_yield: () => Errno.SUCCESS,
      sock_accept: (fd: number) => notSocket(fd),
      sock_recv: (fd: number) => notSocket(fd),
      sock_send: (fd: number) => notSocket(fd),
      sock_shutdown: (fd: number) => notSocket(fd),
    };
    return calls as unknown as Record<string, Call>;
  }

  /**
   * `poll_oneoff`: descriptors are memory-backed and always ready, so any fd subscription answers at once;
   * with clock subscriptions only, the thread sleeps until the earliest one is due (a timeout of the
   * invocation terminates the worker, which interrupts the wait).
   */
  private pollOneoff(ctx: FsContext, preview0: boolean): Call {
    const subSize = preview0 ? PREVIEW0_SUBSCRIPTION_SIZE : Layout.SUBSCRIPTION_SIZE;
    const clockAt = preview0 ? 24 : 16; // offset of clock_id in a subscription
    const call = (inPtr: number, outPtr: number, count: number, neventsPtr: number): number => {
      if (count === 0) return Errno.INVAL;
      const view = this.mem.view;
      if (inPtr + count * subSize > view.byteLength || outPtr + count * Layout.EVENT_SIZE > view.byteLength) return Errno.FAULT;
      let events = 0;
      const event = (userdata: bigint, error: number, type: number, nbytes: number, flags: number): void => {
        const at = outPtr + events * Layout.EVENT_SIZE;
        for (let i = 0; i < Layout.EVENT_SIZE; i += 8) view.setBigUint64(at + i, 0n, true);
        view.setBigUint64(at, userdata, true);
        view.setUint16(at + 8, error, true);
        view.setUint8(at + 10, type);
        view.setBigUint64(at + 16, BigInt(nbytes), true);
        view.setUint16(at + 24, flags, true);
        events += 1;
      };
      const clocks: { userdata: bigint; dueNs: bigint }[] = [];
      const now = process.hrtime.bigint();
      for (let i = 0; i < count; i += 1) {
        const at = inPtr + i * subSize;
        const userdata = view.getBigUint64(at, true);
        const type = view.getUint8(at + 8);
        if (type === Eventtype.CLOCK) {
          const id = view.getUint32(at + clockAt, true);
          const timeout = view.getBigUint64(at + clockAt + 8, true);
          const absolute = (view.getUint16(at + clockAt + 24, true) & SUBSCRIPTION_CLOCK_ABSTIME) !== 0;
          if (this.clockNs(id) === null) event(userdata, Errno.INVAL, type, 0, 0);
          else if (!absolute) clocks.push({ userdata, dueNs: now + timeout });
          else if (id === Clockid.REALTIME) clocks.push({ userdata, dueNs: timeout - this.wallOffsetNs });
          else if (id === Clockid.MONOTONIC) clocks.push({ userdata, dueNs: timeout });
          else clocks.push({ userdata, dueNs: timeout + this.startedNs });
        } else if (type === Eventtype.FD_READ || type === Eventtype.FD_WRITE) {
          const d = this.fds.get(view.getUint32(at + 16, true));
          if (d === undefined) event(userdata, Errno.BADF, type, 0, 0);
          else {
            const ready = readiness(ctx, d, type === Eventtype.FD_READ);
            event(userdata, Errno.SUCCESS, type, ready.nbytes, ready.hangup ? EVENT_FD_READWRITE_HANGUP : 0);
          }
        } else {
          event(userdata, Errno.INVAL, type, 0, 0);
        }
      }
      if (events === 0 && clocks.length > 0) {
        const due = clocks.reduce((m, c) => (c.dueNs < m ? c.dueNs : m), clocks[0]?.dueNs ?? now);
        for (let left = due - process.hrtime.bigint(); left > 0n; left = due - process.hrtime.bigint()) {
          Atomics.wait(sleepCell, 0, 0, Number(left) / 1e6);
        }
        const after = process.hrtime.bigint();
        for (const c of clocks) if (c.dueNs <= after) event(c.userdata, Errno.SUCCESS, Eventtype.CLOCK, 0, 0);
      }
      this.mem.view.setUint32(neventsPtr, events, true);
      return Errno.SUCCESS;
    };
    return call as unknown as Call;
  }
}
