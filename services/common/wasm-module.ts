/**
 * Inspection and limiting of WebAssembly modules, shared by the controller (validation at deploy) and the
 * invoker (memory cap before compiling). Works on the binary format directly: the JS API does not expose a
 * memory's limits, and capping a module's memory means rewriting its memory section.
 */
import { HayateError } from './errors';

/** 64 KiB WebAssembly pages per MiB. */
export const PAGES_PER_MIB = 16;
const MEMORY_SECTION = 5;
const WASI_MODULES = new Set(['wasi_snapshot_preview1', 'wasi_unstable']);

/**
 * Every function of WASI preview1 (`wasi_snapshot_preview1`; `wasi_unstable` has the same names but
 * `sock_accept`). The invoker's WASI host implements exactly these (a test keeps them in step); a module that
 * imports anything else (WASIX `sock_open`, `thread-spawn`…) could not be instantiated, so deploy refuses it.
 */
export const WASI_FUNCTIONS: readonly string[] = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags', 'fd_fdstat_set_rights',
  'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread', 'fd_prestat_get', 'fd_prestat_dir_name',
  'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'fd_write',
  'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open', 'path_readlink',
  'path_remove_directory', 'path_rename', 'path_symlink', 'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise',
  'sched_yield', 'random_get', 'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
];
const WASI_FUNCTION_SET = new Set(WASI_FUNCTIONS);

/** Node's Buffers and Uint8Arrays are never backed by a SharedArrayBuffer here; tell TypeScript so. */
export function asBufferSource(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** What deploy learns of a module. */
export interface ModuleShape {
  /** Declared minimum of the exported memory, in 64 KiB pages. */
  minMemoryPages: number;
  /** Declared maximum, or null when unbounded. */
  maxMemoryPages: number | null;
}

interface MemorySection {
  /** Offset of the section id byte. */
  start: number;
  /** Offset just past the section payload. */
  end: number;
  limits: { flags: number; min: number; max: number | null }[];
}

/** Reads an unsigned LEB128 integer at `offset`. @throws HayateError HAYATE_ERR_INVALID_MODULE when truncated */
export function readLeb(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let pos = offset;
  for (;;) {
    const byte = bytes[pos];
    if (byte === undefined || shift > 35) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot read module: truncated or malformed LEB128 integer');
    pos += 1;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: pos };
    shift += 7;
  }
}

/** Reads the limits of a memory or table type at `offset`: flags, minimum, maximum when flag 1 is set. */
export function readLimits(bytes: Uint8Array, offset: number): { flags: number; min: number; max: number | null; next: number } {
  const flags = bytes[offset] ?? 0;
  const min = readLeb(bytes, offset + 1);
  if ((flags & 1) === 0) return { flags, min: min.value, max: null, next: min.next };
  const max = readLeb(bytes, min.next);
  return { flags, min: min.value, max: max.value, next: max.next };
}

/** Encodes an unsigned LEB128 integer. */
export function writeLeb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}

/** One section of a module: its id, where it starts (the id byte), its payload and its end. */
export interface Section {
  id: number;
  start: number;
  payload: number;
  end: number;
}

/**
 * The sections of a module, in order.
 * @throws HayateError HAYATE_ERR_INVALID_MODULE when a section runs past the end
 */
export function* sectionsOf(bytes: Uint8Array): Generator<Section> {
  let pos = 8; // magic + version, checked by WebAssembly.validate
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos] ?? 0;
    const size = readLeb(bytes, pos + 1);
    const payload = size.next;
    const end = payload + size.value;
    if (end > bytes.length) throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot read module: section ${id} runs past the end of the module`);
    yield { id, start, payload, end };
    pos = end;
  }
}

function findMemorySection(bytes: Uint8Array): MemorySection | null {
  for (const { id, start, payload, end } of sectionsOf(bytes)) {
    if (id === MEMORY_SECTION) {
      const count = readLeb(bytes, payload);
      let p = count.next;
      const limits: MemorySection['limits'] = [];
      for (let i = 0; i < count.value; i += 1) {
        const { next, ...l } = readLimits(bytes, p);
        p = next;
        limits.push(l);
      }
      return { start, end, limits };
    }
  }
  return null;
}

/**
 * Checks that `bytes` is a valid WASI preview1 command module that hayate can run.
 * @throws HayateError HAYATE_ERR_INVALID_MODULE with the reason (invalid binary, missing `_start` or
 *   `memory` export, an import that is not a WASI preview1 function, shared or 64-bit memory)
 */
export function inspectModule(bytes: Uint8Array): ModuleShape {
  if (bytes.byteLength === 0) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as module is empty');
  if (!WebAssembly.validate(asBufferSource(bytes))) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as module is not valid WebAssembly (WebAssembly.validate failed)');
  const module = new WebAssembly.Module(asBufferSource(bytes));
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) {
    throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as module is not a WASI command: missing export _start');
  }
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) {
    throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as module is not a WASI command: missing export memory');
  }
  for (const i of WebAssembly.Module.imports(module)) {
    if (!WASI_MODULES.has(i.module)) {
      throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot deploy function as module imports ${i.module}.${i.name}: only WASI preview1 imports are available`);
    }
    if (i.kind !== 'function' || !WASI_FUNCTION_SET.has(i.name)) {
      throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot deploy function as module imports ${i.kind} ${i.module}.${i.name}, which WASI preview1 does not have`);
    }
  }
  const section = findMemorySection(bytes);
  const memory = section?.limits[0];
  if (section === null || memory === undefined) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot deploy function as module defines no memory of its own');
  if ((memory.flags & ~1) !== 0) throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot deploy function as its memory has unsupported flags 0x${memory.flags.toString(16)} (shared or 64-bit)`);
  return { minMemoryPages: memory.min, maxMemoryPages: memory.max };
}

/**
 * Returns a copy of the module whose memory cannot grow past `memoryMb` (the module's own maximum is kept
 * when it is lower). A module that needs more than `memoryMb` to start is refused.
 * @throws HayateError HAYATE_ERR_LIMIT_EXCEEDED when the declared minimum exceeds `memoryMb`
 * @throws HayateError HAYATE_ERR_INVALID_MODULE when the module has no memory section
 */
export function capModuleMemory(bytes: Uint8Array, memoryMb: number): Uint8Array<ArrayBuffer> {
  const section = findMemorySection(bytes);
  if (section === null) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot cap memory: module defines no memory of its own');
  const limitPages = memoryMb * PAGES_PER_MIB;
  const payload: number[] = [...writeLeb(section.limits.length)];
  for (const { flags, min, max } of section.limits) {
    if (min > limitPages) {
      throw new HayateError('HAYATE_ERR_LIMIT_EXCEEDED', `Cannot run module as it needs ${Math.ceil(min / PAGES_PER_MIB)} MiB of memory to start and memory_mb is ${memoryMb}`);
    }
    const cap = max === null ? limitPages : Math.min(max, limitPages);
    payload.push(flags | 1, ...writeLeb(min), ...writeLeb(cap));
  }
  return replaceSection(bytes, section, MEMORY_SECTION, payload);
}

/** A copy of `bytes` with the section at [start, end) replaced by section `id` holding `payload`. */
export function replaceSection(bytes: Uint8Array, section: { start: number; end: number }, id: number, payload: readonly number[]): Uint8Array<ArrayBuffer> {
  const head = [id, ...writeLeb(payload.length)];
  const out = new Uint8Array(section.start + head.length + payload.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  out.set(head, section.start);
  out.set(payload, section.start + head.length);
  out.set(bytes.subarray(section.end), section.start + head.length + payload.length);
  return out;
}

/** Where the invoker's compiled copy of a module takes its memory from (see `importModuleMemory`). */
export const MEMORY_IMPORT = { module: 'hayate', name: 'memory' } as const;
const IMPORT_SECTION = 2;

/**
 * Returns a copy of the module whose memory is imported (`hayate.memory`) instead of defined, with the same
 * limits. The invoker can then hand a run a memory it has used before, zeroed, instead of a fresh one: on
 * this kind of VM a fresh memory costs a large mapping and a page fault per touched page, and dropped
 * memories keep V8's garbage collector busy (measured: `new WebAssembly.Instance` ≈ 750 µs per call under
 * load, most of a warm call). Memory index 0 stays index 0 (an imported memory comes first), so nothing
 * else in the module changes.
 * @throws HayateError HAYATE_ERR_INVALID_MODULE when the module does not define exactly one memory
 */
export function importModuleMemory(bytes: Uint8Array): { bytes: Uint8Array<ArrayBuffer>; minPages: number; maxPages: number | null } {
  const memory = findMemorySection(bytes);
  const limits = memory?.limits[0];
  if (memory === null || limits === undefined || memory.limits.length !== 1) throw new HayateError('HAYATE_ERR_INVALID_MODULE', 'Cannot import memory: module must define exactly one memory');
  const name = (s: string) => [...writeLeb(s.length), ...Buffer.from(s)];
  const entry = [...name(MEMORY_IMPORT.module), ...name(MEMORY_IMPORT.name), 0x02, limits.flags & 1, ...writeLeb(limits.min), ...(limits.max !== null ? writeLeb(limits.max) : [])];
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let inserted = false;
  for (const { id, start, payload, end } of sectionsOf(bytes)) {
    if (!inserted && id !== 0 && id !== 1 && id !== IMPORT_SECTION) {
      // no import section: a new one goes before the first section that must follow it
      parts.push(Uint8Array.from([IMPORT_SECTION, ...writeLeb(entry.length + 1), 1, ...entry]));
      inserted = true;
    }
    if (id === IMPORT_SECTION) {
      const count = readLeb(bytes, payload);
      const body = [...writeLeb(count.value + 1), ...bytes.subarray(count.next, end), ...entry];
      parts.push(Uint8Array.from([IMPORT_SECTION, ...writeLeb(body.length), ...body]));
      inserted = true;
    } else if (start !== memory.start) {
      parts.push(bytes.subarray(start, end));
    }
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return { bytes: out, minPages: limits.min, maxPages: limits.max };
}
