/**
 * `fd_readdir`: a directory's entries as `dirent` records, resumable by cookie.
 *
 * Cookie n names the n-th entry of a listing: 0 is `.`, 1 is `..`, then the directory's names in the order
 * they were added. Each open description keeps a cursor: the live iterator of the directory's map where the
 * last call stopped, and the cookie that position has. A call that resumes from that cookie (readdir after
 * readdir, as libc does) continues the iterator, so entries neither added nor removed meanwhile come exactly
 * once even while the program unlinks what it has read (`rm -r`), and no snapshot of the directory is held.
 * Any other cookie (seekdir to a telldir value) walks from the start to that position.
 */
import { Layout } from './abi';
import type { Description } from './fd-table';
import { filetypeOf } from './fd-table';
import type { GuestMemory } from './guest-memory';
import type { DirNode, Node } from './memfs';

/** Where a description's last `fd_readdir` stopped. */
export interface DirCursor {
  dir: DirNode;
  /** Cookie of `pending`, or of the iterator's next entry when nothing is pending. */
  cookie: bigint;
  iter: Iterator<[string, Node]>;
  /** An entry taken from the iterator that did not fit in the caller's buffer. */
  pending: [string, Node] | null;
}

/** One record's bytes, for the last one of a call, which is cut to what is left of the buffer. */
const scratch = new Uint8Array(Layout.DIRENT_SIZE + 255);
const scratchView = new DataView(scratch.buffer);

/** Writes the record of `node` named `name` with `d_next` = `next` at `at` of `u8`/`view`. */
function writeDirent(u8: Uint8Array, view: DataView, at: number, next: bigint, name: string, node: Node): void {
  view.setBigUint64(at, next, true);
  view.setBigUint64(at + 8, BigInt(node.ino), true);
  view.setUint32(at + 16, name.length, true);
  view.setUint32(at + 20, filetypeOf(node), true);
  for (let i = 0; i < name.length; i += 1) u8[at + Layout.DIRENT_SIZE + i] = name.charCodeAt(i);
}

/** A cursor at `cookie` of `dir`: after `.`, `..` and `cookie - 2` names. */
function seek(dir: DirNode, cookie: bigint): DirCursor {
  const iter = dir.entries.entries();
  const cursor: DirCursor = { dir, cookie: 0n, iter, pending: null };
  for (let c = 2n; c < cookie; c += 1n) {
    if (iter.next().done === true) break;
  }
  cursor.cookie = cookie;
  return cursor;
}

/**
 * Fills [buf, buf+bufLen) of guest memory with the entries of the directory of `d` from `cookie`; the last
 * record is cut when it does not fit (the caller sees a full buffer and asks again from its cookie).
 * @returns bytes used
 */
export function readdir(mem: GuestMemory, d: Description, buf: number, bufLen: number, cookie: bigint): number {
  const dir = d.node as DirNode;
  let cursor = d.cursor;
  if (cursor === null || cursor.dir !== dir || cursor.cookie !== cookie) {
    cursor = seek(dir, cookie);
    d.cursor = cursor;
  }
  const u8 = mem.u8;
  const view = mem.view;
  let used = 0;
  while (used < bufLen) {
    let name: string;
    let node: Node;
    let entry: [string, Node] | null | undefined = null;
    if (cursor.cookie === 0n) {
      name = '.';
      node = dir;
    } else if (cursor.cookie === 1n) {
      name = '..';
      node = dir.parent;
    } else {
      entry = cursor.pending ?? (cursor.iter.next().value as [string, Node] | undefined);
      if (entry === undefined) break;
      [name, node] = entry;
    }
    const size = Layout.DIRENT_SIZE + name.length;
    if (used + size <= bufLen) {
      writeDirent(u8, view, buf + used, cursor.cookie + 1n, name, node);
      used += size;
      cursor.pending = null;
      cursor.cookie += 1n;
    } else {
      writeDirent(scratch, scratchView, 0, cursor.cookie + 1n, name, node);
      u8.set(scratch.subarray(0, bufLen - used), buf + used);
      used = bufLen;
      cursor.pending = entry;
    }
  }
  return used;
}
