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

/** Collects one stream's bytes up to a limit. */
export class OutputSink {
  private readonly chunks: Uint8Array[] = [];
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
    if (data.length === 0) return;
    const room = this.limitBytes - this.kept;
    if (data.length > room) {
      if (this.stopAtLimit) throw new OutputLimitExceeded(this.limitBytes);
      this.dropped += data.length - Math.max(0, room);
      if (room <= 0) return;
      data = data.subarray(0, room);
    }
    this.chunks.push(data.slice());
    this.kept += data.length;
  }

  /** Everything kept, as one array. */
  take(): Uint8Array {
    if (this.chunks.length === 1) return this.chunks[0] as Uint8Array;
    const out = new Uint8Array(this.kept);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
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
