/**
 * Fuel metering of a module, so that the invoker may run a short function on its event-loop thread (one
 * thread hop less per call) and still stop it within a bound when it turns out not to be short.
 *
 * The copy this returns counts down a mutable i32 global, exported as `FUEL_EXPORT`, at every function entry
 * (by the number of the function's instructions outside its loops) and at every loop header (by the number
 * of the loop's instructions outside its inner loops, which charge their own): an upper bound of the
 * instructions run until the next check, so a run can execute no more instructions than the fuel it was
 * given. When the global falls below zero the module
 * executes `unreachable`: the run traps, the host reads the global and knows the trap was the fuel's.
 *
 * Only what this walker decodes is metered: the MVP instruction set with sign extension, saturating
 * conversions, reference types and tail calls. A module with bulk memory (one `memory.fill` can take any
 * time within the memory's size), SIMD, threads or exceptions gets no metered copy (null): it runs on
 * worker threads only, as every module did before.
 */
import { readLeb, readLimits, sectionsOf, writeLeb } from './wasm-module';

/**
 * The fuel of one run on the event-loop thread: instructions, counted from above. At 1–3 ns an instruction
 * (Liftoff, before V8 tiers the module up) that is a few milliseconds at most; a trivial call uses a few
 * thousand to a few tens of thousands.
 */
export const INLINE_FUEL = 2_000_000;

/** The export the metered copy gives its fuel global under. */
export const FUEL_EXPORT = 'hayate_fuel';

const SECTION = { import: 2, global: 6, export: 7, code: 10 } as const;
/** Where a new global section may go: before the first section of these ids (the spec's section order). */
const AFTER_GLOBALS = new Set([7, 8, 9, 12, 10, 11]);
const IMPORT_KIND_GLOBAL = 0x03;
const EXPORT_KIND_GLOBAL = 0x03;
const I32 = 0x7f;
/** The largest charge of one check: an i32.const of a few bytes, and far beyond any budget. */
const MAX_CHARGE = 2 ** 30;

/** Why a module gets no metered copy. */
export class Unmeterable extends Error {}

/** A signed LEB128 integer (i32.const). */
function writeSleb(value: number): number[] {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** Skips a LEB128 integer (signed or not) at `pos`. */
function skipLeb(bytes: Uint8Array, pos: number): number {
  let p = pos;
  while (((bytes[p] ?? 0) & 0x80) !== 0) p += 1;
  if (p >= bytes.length) throw new Unmeterable('truncated integer');
  return p + 1;
}

/** Skips a block type: empty, a value type, or a type index (s33). */
function skipBlockType(bytes: Uint8Array, pos: number): number {
  const b = bytes[pos] ?? 0;
  if (b === 0x40 || b === 0x7f || b === 0x7e || b === 0x7d || b === 0x7c || b === 0x7b || b === 0x70 || b === 0x6f) return pos + 1;
  return skipLeb(bytes, pos);
}

/** Where a function's instructions start, after its locals. */
function skipLocals(bytes: Uint8Array, pos: number): number {
  const groups = readLeb(bytes, pos);
  let p = groups.next;
  for (let i = 0; i < groups.value; i += 1) p = skipLeb(bytes, p) + 1;
  return p;
}

/**
 * Walks one instruction at `pos`; returns where the next starts.
 * @throws Unmeterable for an instruction outside what is metered
 */
function skipInstruction(bytes: Uint8Array, pos: number): number {
  const op = bytes[pos] ?? -1;
  const p = pos + 1;
  if (op === 0x00 || op === 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b || op === 0xd1) return p;
  if (op === 0x02 || op === 0x03 || op === 0x04) return skipBlockType(bytes, p);
  if (op === 0x0c || op === 0x0d || op === 0x10 || op === 0x12 || op === 0xd2 || (op >= 0x20 && op <= 0x26)) return skipLeb(bytes, p);
  if (op === 0x11 || op === 0x13) return skipLeb(bytes, skipLeb(bytes, p));
  if (op === 0x0e) {
    const n = readLeb(bytes, p);
    let q = n.next;
    for (let i = 0; i <= n.value; i += 1) q = skipLeb(bytes, q);
    return q;
  }
  if (op === 0x1c) {
    const n = readLeb(bytes, p);
    return n.next + n.value;
  }
  if (op >= 0x28 && op <= 0x3e) {
    const align = readLeb(bytes, p);
    if (align.value >= 64) throw new Unmeterable('multiple memories');
    return skipLeb(bytes, align.next);
  }
  if (op === 0x3f || op === 0x40) return skipLeb(bytes, p);
  if (op === 0x41 || op === 0x42) return skipLeb(bytes, p);
  if (op === 0x43) return p + 4;
  if (op === 0x44) return p + 8;
  if (op >= 0x45 && op <= 0xc4) return p;
  if (op === 0xd0) return p + 1;
  if (op === 0xfc) {
    const sub = readLeb(bytes, p);
    if (sub.value <= 7) return sub.next; // saturating conversions
    if (sub.value === 9 || sub.value === 13 || sub.value === 15 || sub.value === 16) return skipLeb(bytes, sub.next); // data.drop, elem.drop, table.grow, table.size
    throw new Unmeterable(`bulk memory or table instruction 0xfc ${sub.value}`);
  }
  throw new Unmeterable(`instruction 0x${op.toString(16)}`);
}

/** The check inserted at a function entry or loop header: charge `cost`, trap below zero. */
function check(global: number, cost: number): number[] {
  const g = writeLeb(global);
  // global.get g; i32.const cost; i32.sub; global.set g; global.get g; i32.const 0; i32.lt_s; if; unreachable; end
  return [0x23, ...g, 0x41, ...writeSleb(Math.min(cost, MAX_CHARGE)), 0x6b, 0x24, ...g, 0x23, ...g, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b];
}

/** Bytes to join once: views of the source and small arrays of new bytes. */
type Chunks = (Uint8Array | number[])[];

function lengthOf(chunks: Chunks): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

function join(chunks: Chunks): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(lengthOf(chunks));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** One function body, metered. */
function meterBody(bytes: Uint8Array, start: number, end: number, global: number): Chunks {
  const code = skipLocals(bytes, start);
  // first pass: where each loop's body starts and how many instructions it holds outside its inner loops
  // (each inner loop charges its own at every iteration, its first included); the same for the function
  const loops: { at: number; count: number }[] = [];
  /** Per open block: the innermost loop it is in (-1: the function's own code). */
  const inLoop: number[] = [];
  let own = 0;
  let pos = code;
  while (pos < end) {
    const op = bytes[pos];
    const next = skipInstruction(bytes, pos);
    const innermost = inLoop.length === 0 ? -1 : (inLoop[inLoop.length - 1] as number);
    if (innermost < 0) own += 1;
    else (loops[innermost] as { count: number }).count += 1;
    if (op === 0x02 || op === 0x04) inLoop.push(innermost);
    else if (op === 0x03) {
      loops.push({ at: next, count: 0 });
      inLoop.push(loops.length - 1);
    } else if (op === 0x0b) inLoop.pop();
    pos = next;
  }
  if (pos !== end) throw new Unmeterable('function body ends inside an instruction');
  // second pass: the same bytes with the checks inserted
  const out: Chunks = [bytes.subarray(start, code), check(global, own)];
  let from = code;
  for (const loop of loops) {
    out.push(bytes.subarray(from, loop.at), check(global, loop.count));
    from = loop.at;
  }
  out.push(bytes.subarray(from, end));
  return out;
}

/** Globals the module imports (they come first in the global index space). */
function importedGlobals(bytes: Uint8Array, payload: number): number {
  const count = readLeb(bytes, payload);
  let p = count.next;
  let globals = 0;
  for (let i = 0; i < count.value; i += 1) {
    for (let s = 0; s < 2; s += 1) {
      const len = readLeb(bytes, p);
      p = len.next + len.value;
    }
    const kind = bytes[p] ?? 0;
    p += 1;
    if (kind === 0x00) p = skipLeb(bytes, p);
    else if (kind === 0x01) p = readLimits(bytes, p + 1).next;
    else if (kind === 0x02) p = readLimits(bytes, p).next;
    else if (kind === IMPORT_KIND_GLOBAL) {
      globals += 1;
      p += 2;
    } else throw new Unmeterable(`import kind ${kind}`);
  }
  return globals;
}

function section(id: number, payload: Chunks): Chunks {
  return [[id, ...writeLeb(lengthOf(payload))], ...payload];
}

/**
 * A copy of `bytes` that counts its fuel (see the top of this file), or null when the module uses what is
 * not metered. Never throws on a module that compiles: whatever it cannot meter, it leaves unmetered.
 * @param budget the fuel the global starts with (it runs a start section); the host sets it before each run
 */
export function meterModule(bytes: Uint8Array, budget: number): Uint8Array<ArrayBuffer> | null {
  try {
    const sections = [...sectionsOf(bytes)];
    let globals = 0;
    for (const s of sections) {
      if (s.id === SECTION.import) globals += importedGlobals(bytes, s.payload);
      if (s.id === SECTION.global) globals += readLeb(bytes, s.payload).value;
    }
    const fuel = globals;
    const entry = [I32, 0x01, 0x41, ...writeSleb(budget), 0x0b];
    const parts: Chunks = [bytes.subarray(0, 8)];
    let hasGlobals = sections.some((s) => s.id === SECTION.global);
    for (const s of sections) {
      if (!hasGlobals && AFTER_GLOBALS.has(s.id)) {
        parts.push(...section(SECTION.global, [[1, ...entry]]));
        hasGlobals = true;
      }
      const count = s.id === SECTION.global || s.id === SECTION.export || s.id === SECTION.code ? readLeb(bytes, s.payload) : null;
      if (s.id === SECTION.global && count !== null) {
        parts.push(...section(s.id, [writeLeb(count.value + 1), bytes.subarray(count.next, s.end), entry]));
      } else if (s.id === SECTION.export && count !== null) {
        const name = [...Buffer.from(FUEL_EXPORT)];
        parts.push(...section(s.id, [writeLeb(count.value + 1), bytes.subarray(count.next, s.end), [...writeLeb(name.length), ...name, EXPORT_KIND_GLOBAL, ...writeLeb(fuel)]]));
      } else if (s.id === SECTION.code && count !== null) {
        const payload: Chunks = [writeLeb(count.value)];
        let p = count.next;
        for (let i = 0; i < count.value; i += 1) {
          const size = readLeb(bytes, p);
          const body = meterBody(bytes, size.next, size.next + size.value, fuel);
          payload.push(writeLeb(lengthOf(body)));
          for (const c of body) payload.push(c);
          p = size.next + size.value;
        }
        parts.push(...section(s.id, payload));
      } else parts.push(bytes.subarray(s.start, s.end));
    }
    const out = join(parts);
    return WebAssembly.validate(out) ? out : null;
  } catch {
    return null;
  }
}
