/**
 * Views of a WASM instance's linear memory for the WASI calls. The views are remade only when the memory
 * has grown (its ArrayBuffer is replaced), so a call pays one identity check.
 *
 * Pointers and lengths arrive as i32 and so, from 2^31 up, as negative numbers: every bounds check here reads
 * them unsigned (`>>> 0`), and an access the DataView refuses (past the end, or negative) is a RangeError
 * that `guardCalls` answers EFAULT, as Linux answers a bad pointer (issue 11 §8).
 */
import { Errno } from './abi';

/** Most iovecs one read or write takes (Linux IOV_MAX): EINVAL beyond, so a call's host work is bounded. */
export const IOV_MAX = 1024;

export class GuestMemory {
  private memory: WebAssembly.Memory | null = null;
  private buffer: ArrayBuffer = new ArrayBuffer(0);
  private u8view = new Uint8Array(0);
  private dataView = new DataView(this.buffer);

  /** Attaches the instance's exported memory (after instantiation, before `_start`). */
  bind(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  /** Current byte size of the memory (0 before `bind`). */
  get byteLength(): number {
    return this.memory?.buffer.byteLength ?? 0;
  }

  private refresh(): void {
    if (this.memory === null) throw new Error('WASI call before the module memory was bound');
    const buffer = this.memory.buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer;
      this.u8view = new Uint8Array(buffer);
      this.dataView = new DataView(buffer);
    }
  }

  /** A DataView of the whole memory; out-of-range accesses throw RangeError (answered EFAULT by `guardCalls`). */
  get view(): DataView {
    this.refresh();
    return this.dataView;
  }

  /** A Uint8Array of the whole memory. */
  get u8(): Uint8Array {
    this.refresh();
    return this.u8view;
  }

  /** Whether [ptr, ptr+len) lies inside the memory (both read unsigned). */
  inBounds(ptr: number, len: number): boolean {
    return (ptr >>> 0) + (len >>> 0) <= this.u8.length;
  }

  /** The guest bytes [ptr, ptr+len), or null when they are not all inside the memory (EFAULT). */
  bytes(ptr: number, len: number): Uint8Array | null {
    const u8 = this.u8;
    const at = ptr >>> 0;
    const end = at + (len >>> 0);
    return end <= u8.length ? u8.subarray(at, end) : null;
  }

  /** The guest bytes [ptr, ptr+len) as a latin1 string (one char per byte), or null when out of range. */
  latin1(ptr: number, len: number): string | null {
    const bytes = this.bytes(ptr, len);
    return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }

  /**
   * Checks the `iovec` array at `iovs` (ptr u32, len u32 each): SUCCESS when it and every buffer it names
   * lie inside the memory, EINVAL past `IOV_MAX` entries, EFAULT otherwise. Nothing is allocated: callers
   * then walk the array with `iovPtr`/`iovLen`.
   */
  checkIovecs(iovs: number, count: number): Errno {
    const n = count >>> 0;
    if (n > IOV_MAX) return Errno.INVAL;
    const at = iovs >>> 0;
    if (at + n * 8 > this.u8.length) return Errno.FAULT;
    const view = this.dataView;
    const size = this.u8view.length;
    for (let i = 0; i < n; i += 1) {
      if (view.getUint32(at + i * 8, true) + view.getUint32(at + i * 8 + 4, true) > size) return Errno.FAULT;
    }
    return Errno.SUCCESS;
  }

  /** Address of the buffer of iovec `i` of a checked array. */
  iovPtr(iovs: number, i: number): number {
    return this.dataView.getUint32((iovs >>> 0) + i * 8, true);
  }

  /** Length of the buffer of iovec `i` of a checked array. */
  iovLen(iovs: number, i: number): number {
    return this.dataView.getUint32((iovs >>> 0) + i * 8 + 4, true);
  }
}

/**
 * A run on the invoker's event-loop thread (`InlineLane`) must give way: it passed its host deadline or asked
 * to sleep. It unwinds the run, which is then run again on a worker thread from the start.
 */
export class InlineOverrun extends Error {}

/**
 * The run's host deadline passed. Unlike fuel running out, this can be the machine's doing (a GC pause, a
 * core taken away from the VM) rather than the function's, so the lane forgives one (inline-lane.ts).
 */
export class HostDeadlinePassed extends InlineOverrun {}

/**
 * The deadline of the run on this thread, `performance.now()` ms, or 0 when the thread is a worker (no
 * deadline: the pool's timeout terminates a worker). Every WASI call checks it, so that a run's host calls
 * (whose cost fuel does not count) cannot hold the event loop past it.
 */
export const hostDeadline = { at: 0 };

/** A WASI import: numbers and bigints in, an errno out. */
type AnyCall = (...args: never[]) => number;
type Call9 = (a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown, g: unknown, h: unknown, i: unknown) => number;

/**
 * One import namespace from the calls of each group, each call wrapped so that a guest pointer outside the
 * memory (a RangeError of a DataView or typed array, thrown before or while the call writes its results)
 * answers EFAULT instead of trapping the function. Fixed arity, no rest parameters: a wrapped call
 * allocates nothing. ProcExit and the output limit, which are not RangeErrors, go through. Built by plain
 * assignment into one object (a later group's call replaces an earlier one of the same name): object
 * spreads of these 45-call groups cost ≈200 µs per run in V8's slow path, more than the run itself.
 */
export function guardCalls(...groups: Record<string, AnyCall>[]): Record<string, AnyCall> {
  const out: Record<string, Call9> = {};
  for (const calls of groups) {
    for (const name in calls) out[name] = guarded(calls[name] as unknown as Call9);
  }
  return out as unknown as Record<string, AnyCall>;
}

function guarded(call: Call9): Call9 {
  return (a, b, c, d, e, f, g, h, i) => {
    if (hostDeadline.at !== 0 && performance.now() > hostDeadline.at) throw new HostDeadlinePassed('host deadline passed');
    try {
      return call(a, b, c, d, e, f, g, h, i);
    } catch (err: unknown) {
      // a stack overflow on entry is the function's own (deep recursion): it stays a trap
      if (err instanceof RangeError && !err.message.startsWith('Maximum call stack')) return Errno.FAULT;
      throw err;
    }
  };
}
