/**
 * Views of a WASM instance's linear memory for the WASI calls. The views are remade only when the memory
 * has grown (its ArrayBuffer is replaced), so a call pays one identity check.
 */
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

  /** A DataView of the whole memory; out-of-range accesses throw RangeError (a trap of the function). */
  get view(): DataView {
    this.refresh();
    return this.dataView;
  }

  /** A Uint8Array of the whole memory. */
  get u8(): Uint8Array {
    this.refresh();
    return this.u8view;
  }

  /** The guest bytes [ptr, ptr+len), or null when they are not all inside the memory (EFAULT). */
  bytes(ptr: number, len: number): Uint8Array | null {
    const u8 = this.u8;
    return ptr + len <= u8.length ? u8.subarray(ptr, ptr + len) : null;
  }

  /** The guest bytes [ptr, ptr+len) as a latin1 string (one char per byte), or null when out of range. */
  latin1(ptr: number, len: number): string | null {
    const bytes = this.bytes(ptr, len);
    return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }

  /** The `iovec` array at `iovs` (ptr u32, len u32 each), or null when any part is out of range. */
  iovecs(iovs: number, count: number): Uint8Array[] | null {
    const view = this.view;
    const out: Uint8Array[] = [];
    for (let i = 0; i < count; i += 1) {
      const at = iovs + i * 8;
      if (at + 8 > view.byteLength) return null;
      const bytes = this.bytes(view.getUint32(at, true), view.getUint32(at + 4, true));
      if (bytes === null) return null;
      out.push(bytes);
    }
    return out;
  }
}
