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
import { fdCalls, hangup, readiness } from './fd-calls';
import type { FsContext } from './fs-context';
import { pathCalls } from './path-calls';
import { GuestMemory, guardCalls, hostDeadline, InlineOverrun } from './guest-memory';
import type { BundleMount } from './bundle-fs';
import { mountBundle, writableRoot } from './bundle-fs';
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
  private env: Uint8Array[];
  private wallOffsetNs = wallClockOffsetNs();
  private startedNs = process.hrtime.bigint();

  constructor(options: WasiOptions) {
    this.args = cStrings(options.args);
    this.env = cStrings(Object.entries(options.env).map(([k, v]) => `${k}=${v}`));
    this.fs = new MemFs(options.fsLimitBytes, () => this.realtimeNs(), writableRoot(options.files));
    if (options.files !== undefined) mountBundle(this.fs, options.files);
    this.fds = new FdTable(this.fs);
  }

  /**
   * Replaces the environment before `start` (the program reads it only then): an instance prepared for one
   * env serves a run with another — trigger runs differ only in HAYATE_SUBJECT and headers.
   */
  setEnv(env: Readonly<Record<string, string>>): void {
    this.env = cStrings(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  }

  /** Bytes of linear memory the instance holds now. */
  get memoryBytes(): number {
    return this.mem.byteLength;
  }

  private realtimeNs(): bigint {
    return process.hrtime.bigint() + this.wallOffsetNs;
  }

  /**
   * The import object: `wasi_snapshot_preview1` and `wasi_unstable`, each call guarded (a bad pointer
   * answers EFAULT). `wasi_unstable` is built only when instantiation asks for it (a getter): few modules
   * import it, and building both cost every run.
   */
  imports(): WebAssembly.Imports {
    this.bind();
    const imports: WebAssembly.Imports = { wasi_snapshot_preview1: Wasi.namespace(false) };
    Object.defineProperty(imports, 'wasi_unstable', { enumerable: true, get: () => Wasi.namespace(true) });
    return imports;
  }

  /**
   * The calls of one namespace, built once per thread: each reads the run it serves from `Wasi.ctx` and
   * `Wasi.current()`, which `bind` points at one Wasi at a time (a worker runs one instance at a time, and
   * binds before it instantiates and before it starts). Building them per run (≈100 closures, their
   * guards, the namespace object) cost more than a trivial run itself, in time and garbage.
   */
  private static namespace(preview0: boolean): Record<string, Call> {
    const at = preview0 ? 1 : 0;
    let ns = Wasi.namespaces[at];
    if (ns === null) {
      const ctx = Wasi.ctx;
      ns = guardCalls(fdCalls(ctx, preview0), pathCalls(ctx, preview0), Wasi.commonCalls(), { poll_oneoff: Wasi.pollOneoff(ctx, preview0) });
      Wasi.namespaces[at] = ns;
    }
    return ns;
  }

  private static readonly namespaces: [Record<string, Call> | null, Record<string, Call> | null] = [null, null];
  private static active: Wasi | null = null;
  /** What the calls work on: the fields of the bound Wasi. */
  private static readonly ctx: FsContext = { mem: new GuestMemory(), fs: new MemFs(0, () => 0n), fds: null as unknown as FdTable, stdio: new Stdio(), now: () => Wasi.current().realtimeNs() };

  private static current(): Wasi {
    if (Wasi.active === null) throw new Error('no WASI run is bound');
    return Wasi.active;
  }

  /** Points the thread's calls at this run. */
  private bind(): void {
    Wasi.active = this;
    const ctx = Wasi.ctx;
    ctx.mem = this.mem;
    ctx.fs = this.fs;
    ctx.fds = this.fds;
    ctx.stdio = this.stdio;
  }

  /**
   * Runs `_start` of an instance made with `imports()`.
   * @returns the exit code, a trap with its message, or the stdout limit
   */
  start(instance: WebAssembly.Instance): WasiOutcome {
    const memory = instance.exports['memory'];
    const start = instance.exports['_start'];
    if (!(memory instanceof WebAssembly.Memory) || typeof start !== 'function') return { kind: 'trapped', message: 'module exports no memory or no _start' };
    this.bind();
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
      if (err instanceof InlineOverrun) throw err;
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

  /** args, env, clocks, randomness, exit and sockets: calls of whichever Wasi is bound (`Wasi.current`). */
  private static commonCalls(): Record<string, Call> {
    const w = (): Wasi => Wasi.current();
    // a preopen is the runtime's, not a descriptor the program opened: where a POSIX program has no fd 3
    // (wasi-testsuite's sock_shutdown-invalid_fd), it answers EBADF as a never-opened number does
    const notSocket = (fd: number): number => {
      const d = Wasi.ctx.fds.get(fd);
      return d === undefined || d.preopen !== null ? Errno.BADF : Errno.NOTSOCK;
    };
    const calls = {
      args_sizes_get: (countPtr: number, sizePtr: number) => w().sizes(w().args, countPtr, sizePtr),
      args_get: (ptrs: number, buf: number) => w().writeStrings(w().args, ptrs, buf),
      environ_sizes_get: (countPtr: number, sizePtr: number) => w().sizes(w().env, countPtr, sizePtr),
      environ_get: (ptrs: number, buf: number) => w().writeStrings(w().env, ptrs, buf),
      clock_res_get: (id: number, ptr: number): number => {
        if (w().clockNs(id) === null) return Errno.INVAL;
        Wasi.ctx.mem.view.setBigUint64(ptr, CLOCK_RESOLUTION_NS, true);
        return Errno.SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, ptr: number): number => {
        const ns = w().clockNs(id);
        if (ns === null) return Errno.INVAL;
        Wasi.ctx.mem.view.setBigUint64(ptr, ns, true);
        return Errno.SUCCESS;
      },
      random_get: (ptr: number, len: number): number => {
        const dst = Wasi.ctx.mem.bytes(ptr, len);
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

  /** When a clock subscription at `at` is due on the monotonic clock, or null for an unknown clock. */
  private dueNs(view: DataView, at: number, clockAt: number, now: bigint): bigint | null {
    const id = view.getUint32(at + clockAt, true);
    const timeout = view.getBigUint64(at + clockAt + 8, true);
    if (this.clockNs(id) === null) return null;
    if ((view.getUint16(at + clockAt + 24, true) & SUBSCRIPTION_CLOCK_ABSTIME) === 0) return now + timeout;
    if (id === Clockid.REALTIME) return timeout - this.wallOffsetNs;
    if (id === Clockid.MONOTONIC) return timeout;
    return timeout + this.startedNs;
  }

  /**
   * `poll_oneoff`, as on a host where stdin is a pipe whose writer has closed and stdout and stderr are
   * pipes being read: stdin is readable (with HANGUP, as Linux reports such a pipe) and never writable,
   * stdout and stderr are writable and never readable, files and /dev nodes are both. Ready descriptors
   * answer at once; otherwise the thread sleeps until the earliest clock is due, or for good when no clock
   * was given (the invocation's timeout terminates the worker, which interrupts the wait). Two passes over
   * the subscriptions: nothing is allocated per subscription, whatever `count` the guest passes.
   */
  private static pollOneoff(ctx: FsContext, preview0: boolean): Call {
    const subSize = preview0 ? PREVIEW0_SUBSCRIPTION_SIZE : Layout.SUBSCRIPTION_SIZE;
    const clockAt = preview0 ? 24 : 16; // offset of clock_id in a subscription
    const call = (inPtr: number, outPtr: number, count: number, neventsPtr: number): number => {
      const n = count >>> 0;
      const inAt = inPtr >>> 0;
      const outAt = outPtr >>> 0;
      if (n === 0) return Errno.INVAL;
      const self = Wasi.current();
      const view = self.mem.view;
      if (inAt + n * subSize > view.byteLength || outAt + n * Layout.EVENT_SIZE > view.byteLength) return Errno.FAULT;
      let events = 0;
      const event = (userdata: bigint, error: number, type: number, nbytes: number, flags: number): void => {
        const at = outAt + events * Layout.EVENT_SIZE;
        for (let i = 0; i < Layout.EVENT_SIZE; i += 8) view.setBigUint64(at + i, 0n, true);
        view.setBigUint64(at, userdata, true);
        view.setUint16(at + 8, error, true);
        view.setUint8(at + 10, type);
        view.setBigUint64(at + 16, BigInt(nbytes), true);
        view.setUint16(at + 24, flags, true);
        events += 1;
      };
      const now = process.hrtime.bigint();
      let due: bigint | null = null;
      for (let i = 0; i < n; i += 1) {
        const at = inAt + i * subSize;
        const userdata = view.getBigUint64(at, true);
        const type = view.getUint8(at + 8);
        if (type === Eventtype.CLOCK) {
          const at_ = self.dueNs(view, at, clockAt, now);
          if (at_ === null) event(userdata, Errno.INVAL, type, 0, 0);
          else if (due === null || at_ < due) due = at_;
        } else if (type === Eventtype.FD_READ || type === Eventtype.FD_WRITE) {
          const d = self.fds.get(view.getUint32(at + 16, true));
          if (d === undefined) {
            event(userdata, Errno.BADF, type, 0, 0);
          } else {
            const ready = readiness(ctx, d, type === Eventtype.FD_READ);
            if (ready >= 0) event(userdata, Errno.SUCCESS, type, ready, hangup(d) ? EVENT_FD_READWRITE_HANGUP : 0);
          }
        } else {
          event(userdata, Errno.INVAL, type, 0, 0);
        }
      }
      if (events === 0) {
        // the event-loop thread never sleeps for a function: the run moves to a worker
        if (hostDeadline.at !== 0) throw new InlineOverrun('sleeps');
        if (due === null) {
          Atomics.wait(sleepCell, 0, 0);
        } else {
          for (let left = due - process.hrtime.bigint(); left > 0n; left = due - process.hrtime.bigint()) {
            Atomics.wait(sleepCell, 0, 0, Number(left) / 1e6);
          }
        }
        const after = process.hrtime.bigint();
        for (let i = 0; i < n; i += 1) {
          const at = inAt + i * subSize;
          if (view.getUint8(at + 8) !== Eventtype.CLOCK) continue;
          const at_ = self.dueNs(view, at, clockAt, now);
          if (at_ !== null && at_ <= after) event(view.getBigUint64(at, true), Errno.SUCCESS, Eventtype.CLOCK, 0, 0);
        }
      }
      view.setUint32(neventsPtr >>> 0, events, true);
      return Errno.SUCCESS;
    };
    return call as unknown as Call;
  }
}
