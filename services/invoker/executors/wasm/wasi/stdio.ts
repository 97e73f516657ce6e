/**
 * A function's stdin, stdout and stderr. stdout is bounded by max_output_bytes while it is written: past it
 * the run is stopped (never buffering past the limit). stderr is kept up to max_stderr_bytes and the rest
 * dropped, as the container tier does (SPEC §2: logs are kept, truncated at a limit).
 */

/** Thrown out of `fd_write` to stop a run whose stdout passed its limit; it unwinds `_start`. */
export class OutputLimitExceeded extends Error {
  constructor(readonly limitBytes: number) {
    super(`stdout passed max_output_bytes (${limitBytes})`);
  }
}

/** Smallest buffer a stream starts with: most functions answer in one small write. */
const MIN_CAPACITY = 1024;
/** Past this, a stream moves to a resizable buffer that grows in place up to its limit. */
const COPY_MAX = 1024 * 1024;
const EMPTY = new Uint8Array(0);
/** Outputs up to this size leave as a copy of their own size when their buffer is twice as large or more. */
const SMALL_COPY_MAX = 16 * 1024;

/** `ArrayBuffer` with ES2024's resizable form (V8 11 has it; the ES2022 lib types do not). */
type ResizableBuffer = ArrayBuffer & { resize(bytes: number): void };
const Resizable = ArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => ResizableBuffer;

/**
 * Collects one stream's bytes up to a limit in one buffer, never past the limit: a write costs a copy
 * into it and nothing per write (one `Uint8Array` per write cost ≈230 bytes of host memory per output byte
 * for 1-byte writes, issue 11 §2). The buffer doubles, by copy while small (a new buffer is cheaper than a
 * reservation), then in place in a resizable ArrayBuffer reserved up to the limit, so that a large output
 * costs its own size and at most `COPY_MAX` more, never a second copy of itself.
 */
export class OutputSink {
  private buf: Uint8Array = EMPTY;
  private resizable: ResizableBuffer | null = null;
  private kept = 0;
  /** Bytes written past the limit and dropped (stderr only). */
  dropped = 0;

  /**
   * @param limitBytes bytes kept
   * @param stopAtLimit throw `OutputLimitExceeded` when a write would pass the limit (stdout)
   */
  constructor(
    public limitBytes: number,
    private readonly stopAtLimit: boolean,
  ) {}

  get bytes(): number {
    return this.kept;
  }

  /** Copies `data` (a view of guest memory) in. @throws OutputLimitExceeded for stdout past its limit */
  write(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    const room = this.limitBytes - this.kept;
    if (n > room) {
      if (this.stopAtLimit) throw new OutputLimitExceeded(this.limitBytes);
      this.dropped += n - Math.max(0, room);
      if (room <= 0) return;
      data = data.subarray(0, room);
    }
    const end = this.kept + data.length;
    if (end > this.buf.length) this.grow(end);
    if (data.length <= 16) {
      // short writes (putchar, one line at a time) copy faster by hand than through a subarray
      const buf = this.buf;
      for (let i = 0; i < data.length; i += 1) buf[this.kept + i] = data[i] as number;
    } else {
      this.buf.set(data, this.kept);
    }
    this.kept = end;
  }

  private grow(needed: number): void {
    const capacity = Math.min(Math.max(needed, this.buf.length * 2, MIN_CAPACITY), Math.max(needed, this.limitBytes));
    if (this.resizable !== null) {
      this.resizable.resize(capacity); // `buf` tracks the buffer's length
      return;
    }
    let next: Uint8Array;
    if (capacity <= COPY_MAX) {
      next = new Uint8Array(capacity);
    } else {
      this.resizable = new Resizable(capacity, { maxByteLength: Math.max(capacity, this.limitBytes) });
      next = new Uint8Array(this.resizable);
    }
    next.set(this.buf.subarray(0, this.kept));
    this.buf = next;
  }

  /**
   * Everything kept, to be transferred to the caller: a view of the sink's buffer (no copy), or a copy of a
   * small output that fills less than half of it (a 16-byte answer held its 1 KiB buffer in every answer the
   * invoker keeps for retries: 100,000 of them).
   */
  take(): Uint8Array {
    if (this.kept === 0) return EMPTY;
    return this.kept <= SMALL_COPY_MAX && this.kept * 2 < this.buf.length ? this.buf.slice(0, this.kept) : this.buf.subarray(0, this.kept);
  }
}

/** The three standard streams of one run. */
export class Stdio {
  input: Uint8Array = new Uint8Array(0);
  inputOffset = 0;
  readonly stdout = new OutputSink(0, true);
  readonly stderr = new OutputSink(0, false);

  /** Bytes of stdin not read yet. */
  get inputLeft(): number {
    return this.input.length - this.inputOffset;
  }

  /** Copies stdin into `dst`; returns the count (0 at EOF). */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.inputLeft);
    if (n > 0) dst.set(this.input.subarray(this.inputOffset, this.inputOffset + n));
    this.inputOffset += n;
    return n;
  }
}
