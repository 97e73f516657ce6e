/**
 * Bounds on what a module makes the host allocate besides its linear memory: tables, element and data
 * segments, globals, functions and code. V8 allocates tables and element segments on the instantiating
 * thread's heap in one piece (issue 11: 60 tables of 10,000,000 funcref in a 414-byte module asked for
 * about 10 GB in `WasmTableObject::New`), and a single allocation that large aborts the whole process:
 * a worker's `resourceLimits` does not catch it (measured: "FATAL ERROR: Reached heap limit" with
 * maxOldGenerationSizeMb 256). So the bounds are checked on the bytes, before anything is compiled, by
 * the controller at deploy and again by the invoker before it compiles a module it fetched.
 *
 * Every bound is derived from the function's `memory_mb`, so a function may hold outside its memory at
 * most about a quarter of what it holds inside.
 */
import { HayateError } from './errors';
import { asBufferSource, readLeb, readLimits, replaceSection, sectionsOf, writeLeb } from './wasm-module';

const SECTION = { function: 3, table: 4, global: 6, element: 9, code: 10, data: 11 } as const;

/** What a module makes the host hold besides its linear memory. */
export interface ModuleFootprint {
  functions: number;
  codeBytes: number;
  tables: number;
  /** Sum over tables of the entries each may reach: its maximum, or its minimum when it has none. */
  tableEntries: number;
  elementEntries: number;
  globals: number;
  dataBytes: number;
}

/** Upper bounds for a module run with `memory_mb` (see `moduleBounds`). */
export type ModuleBounds = ModuleFootprint;

const KiB = 1024;
const MiB = 1024 * 1024;
/** Host bytes per table entry: ≈16 bytes of V8 heap and ≈28 of RSS measured per funcref entry (Node 20). */
const TABLE_ENTRY_BYTES = 32;

/**
 * The bounds for `memoryMb`: table and element entries within a quarter of memory_mb (32 bytes each),
 * data segments within memory_mb (they are copied into memory), 1,024 functions, 256 KiB of code and 256
 * globals per MiB, and at most 100 tables.
 */
export function moduleBounds(memoryMb: number): ModuleBounds {
  const entries = Math.floor((memoryMb * MiB) / 4 / TABLE_ENTRY_BYTES);
  return {
    functions: memoryMb * 1024,
    codeBytes: memoryMb * 256 * KiB,
    tables: 100,
    tableEntries: entries,
    elementEntries: entries,
    globals: memoryMb * 256,
    dataBytes: memoryMb * MiB,
  };
}

/** How each bound is derived, for messages. */
const RULE: Record<keyof ModuleBounds, { what: string; rule: string }> = {
  functions: { what: 'functions', rule: 'memory_mb × 1024' },
  codeBytes: { what: 'bytes of code', rule: 'memory_mb × 256 KiB' },
  tables: { what: 'tables', rule: 'a fixed bound' },
  tableEntries: { what: 'table entries', rule: 'memory_mb × 8192' },
  elementEntries: { what: 'element segment entries', rule: 'memory_mb × 8192' },
  globals: { what: 'globals', rule: 'memory_mb × 256' },
  dataBytes: { what: 'bytes of data segments', rule: 'memory_mb × 1 MiB' },
};

function invalid(message: string): HayateError {
  return new HayateError('HAYATE_ERR_INVALID_MODULE', message);
}

/** Skips a LEB128 integer of any width (signed constants may be 10 bytes long). */
function skipLeb(bytes: Uint8Array, pos: number): number {
  let p = pos;
  while (((bytes[p] ?? 0) & 0x80) !== 0) p += 1;
  return p + 1;
}

/** Skips a constant expression (offsets of segments, initial values of globals) up to its `end`. */
function skipConstExpr(bytes: Uint8Array, pos: number): number {
  let p = pos;
  for (;;) {
    const op = bytes[p];
    p += 1;
    switch (op) {
      case 0x0b: // end
        return p;
      case 0x41: // i32.const
      case 0x42: // i64.const
      case 0x23: // global.get
      case 0xd2: // ref.func
        p = skipLeb(bytes, p);
        break;
      case 0x43: // f32.const
        p += 4;
        break;
      case 0x44: // f64.const
        p += 8;
        break;
      case 0xd0: // ref.null t
        p = skipLeb(bytes, p);
        break;
      case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: // extended constant arithmetic
        break;
      case 0xfd: // v128.const
        p = skipLeb(bytes, p) + 16;
        break;
      default:
        throw invalid(`Cannot measure module: opcode 0x${(op ?? 0).toString(16)} in a constant expression`);
    }
    if (p > bytes.length) throw invalid('Cannot measure module: constant expression runs past the end');
  }
}

interface TableType {
  refType: number;
  flags: number;
  min: number;
  max: number | null;
}

function readTables(bytes: Uint8Array, payload: number): TableType[] {
  const count = readLeb(bytes, payload);
  let p = count.next;
  const tables: TableType[] = [];
  for (let i = 0; i < count.value; i += 1) {
    const refType = bytes[p] ?? 0;
    const { flags, min, max, next } = readLimits(bytes, p + 1);
    if (refType === 0x40 || (flags & ~1) !== 0) throw invalid(`Cannot measure module: table ${i} has an encoding hayate does not read (0x${refType.toString(16)} 0x${flags.toString(16)})`);
    p = next;
    tables.push({ refType, flags, min, max });
  }
  return tables;
}

/**
 * Sums over the segments of an element or data section: `segment` reads one, starting past its flags, and
 * returns where the next begins and what it counts.
 */
function sumSegments(bytes: Uint8Array, payload: number, segment: (flags: number, at: number, index: number) => { next: number; n: number }): number {
  const count = readLeb(bytes, payload);
  let p = count.next;
  let total = 0;
  for (let i = 0; i < count.value; i += 1) {
    const flags = readLeb(bytes, p);
    const { next, n } = segment(flags.value, flags.next, i);
    p = next;
    total += n;
  }
  return total;
}

function elementEntries(bytes: Uint8Array, payload: number): number {
  return sumSegments(bytes, payload, (f, at, i) => {
    let p = at;
    if (f > 7) throw invalid(`Cannot measure module: element segment ${i} has flags ${f}`);
    if ((f & 3) === 2) p = readLeb(bytes, p).next; // table index
    if ((f & 1) === 0) p = skipConstExpr(bytes, p); // active: offset
    if ((f & 3) !== 0) p += 1; // elemkind or reftype
    const n = readLeb(bytes, p);
    p = n.next;
    for (let e = 0; e < n.value; e += 1) {
      p = (f & 4) === 0 ? skipLeb(bytes, p) : skipConstExpr(bytes, p);
      // a module not yet validated (fetched by an invoker) may declare counts its bytes cannot hold
      if (p > bytes.length) throw invalid(`Cannot measure module: element segment ${i} runs past the end`);
    }
    return { next: p, n: n.value };
  });
}

function dataBytes(bytes: Uint8Array, payload: number): number {
  return sumSegments(bytes, payload, (f, at, i) => {
    let p = at;
    if (f === 2) p = readLeb(bytes, p).next; // memory index
    if (f !== 1) p = skipConstExpr(bytes, p);
    const n = readLeb(bytes, p);
    if (n.next + n.value > bytes.length) throw invalid(`Cannot measure module: data segment ${i} runs past the end`);
    return { next: n.next + n.value, n: n.value };
  });
}

/**
 * Measures what a module makes the host hold. Reads only the sections it needs, and safely: the bytes
 * need not have been validated (the invoker measures before it compiles).
 * @throws HayateError HAYATE_ERR_INVALID_MODULE when a section cannot be read
 */
export function measureModule(bytes: Uint8Array): ModuleFootprint {
  const f: ModuleFootprint = { functions: 0, codeBytes: 0, tables: 0, tableEntries: 0, elementEntries: 0, globals: 0, dataBytes: 0 };
  for (const { id, payload, end } of sectionsOf(bytes)) {
    switch (id) {
      case SECTION.function:
        f.functions = readLeb(bytes, payload).value;
        break;
      case SECTION.code:
        f.codeBytes = end - payload;
        break;
      case SECTION.table: {
        const tables = readTables(bytes, payload);
        f.tables = tables.length;
        f.tableEntries = tables.reduce((n, t) => n + (t.max ?? t.min), 0);
        break;
      }
      case SECTION.global:
        f.globals = readLeb(bytes, payload).value;
        break;
      case SECTION.element:
        f.elementEntries = elementEntries(bytes, payload);
        break;
      case SECTION.data:
        f.dataBytes = dataBytes(bytes, payload);
        break;
      default:
        break;
    }
  }
  return f;
}

/**
 * Checks a module against the bounds of `memoryMb` (see `moduleBounds`).
 * @param action what is refused, for the message: 'deploy function' or 'run module'
 * @throws HayateError HAYATE_ERR_INVALID_MODULE naming the first bound passed, with both values
 */
export function checkModuleBounds(bytes: Uint8Array, memoryMb: number, action: string): ModuleFootprint {
  return checkFootprint(measureModule(bytes), memoryMb, action);
}

/**
 * Checks a measured footprint against the bounds of `memoryMb` (see `checkModuleBounds`).
 * @throws HayateError HAYATE_ERR_INVALID_MODULE naming the first bound passed, with both values
 */
export function checkFootprint(footprint: ModuleFootprint, memoryMb: number, action: string): ModuleFootprint {
  const bounds = moduleBounds(memoryMb);
  for (const key of Object.keys(bounds) as (keyof ModuleBounds)[]) {
    if (footprint[key] > bounds[key]) {
      const { what, rule } = RULE[key];
      throw invalid(`Cannot ${action} as module declares ${footprint[key]} ${what} and memory_mb=${memoryMb} allows at most ${bounds[key]} (${rule})`);
    }
  }
  return footprint;
}

/**
 * Returns a copy of the module whose tables cannot grow past their declared size when they declare no
 * maximum (V8 would let `table.grow` reach 10,000,000 entries each), so that `checkModuleBounds`, which
 * counts a table without a maximum at its minimum, bounds what a run can allocate. `table.grow` past it
 * returns -1, as at any table's maximum.
 */
export function capModuleTables(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  for (const section of sectionsOf(bytes)) {
    if (section.id !== SECTION.table) continue;
    const tables = readTables(bytes, section.payload);
    if (tables.every((t) => t.max !== null)) return asBufferSource(bytes);
    const payload = [...writeLeb(tables.length)];
    for (const t of tables) payload.push(t.refType, t.flags | 1, ...writeLeb(t.min), ...writeLeb(t.max ?? t.min));
    return replaceSection(bytes, section, SECTION.table, payload);
  }
  return asBufferSource(bytes);
}
