/**
 * What the filesystem calls of one run share: its memory, filesystem, descriptors and streams, and the
 * layouts both `fd_*` and `path_*` calls write (`filestat`) or apply (`set_times`).
 */
import { Errno, Fstflags, Layout } from './abi';
import type { FdTable } from './fd-table';
import { filetypeOf } from './fd-table';
import type { GuestMemory } from './guest-memory';
import type { MemFs, Node } from './memfs';
import type { Stdio } from './stdio';

/** What the calls work on: one run's memory, filesystem, descriptors and streams. */
export interface FsContext {
  mem: GuestMemory;
  fs: MemFs;
  fds: FdTable;
  stdio: Stdio;
  /** realtime, nanoseconds */
  now: () => bigint;
}

/** A WASI import: numbers and bigints in, an errno out. */
export type Call = (...args: never[]) => number;

/** Largest file offset or size: what a JS number holds exactly. */
export const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);
/** Size a directory reports, as on ext4. */
const DIR_SIZE = 4096;
/** `st_dev` of every node: one filesystem. */
const DEVICE_ID = 1n;
/** preview0's `filestat` has a u32 nlink and is 56 bytes. */
const PREVIEW0_FILESTAT_SIZE = 56;

/** The size `stat` reports for a node. */
export function sizeOf(node: Node): number {
  switch (node.kind) {
    case 'file':
      return node.size;
    case 'dir':
      return DIR_SIZE;
    case 'symlink':
      return node.target.length;
    default:
      return 0;
  }
}

/** Writes the `filestat` of `node` at `ptr` (the preview0 layout when `preview0`). */
export function writeFilestat(ctx: FsContext, ptr: number, node: Node, preview0: boolean): Errno {
  const v = ctx.mem.view;
  if (ptr + (preview0 ? PREVIEW0_FILESTAT_SIZE : Layout.FILESTAT_SIZE) > v.byteLength) return Errno.FAULT;
  v.setBigUint64(ptr, DEVICE_ID, true);
  v.setBigUint64(ptr + 8, BigInt(node.ino), true);
  v.setBigUint64(ptr + 16, 0n, true);
  v.setUint8(ptr + 16, filetypeOf(node));
  const nlink = ctx.fs.nlinkOf(node);
  const rest = preview0 ? 24 : 32;
  if (preview0) v.setUint32(ptr + 20, nlink, true);
  else v.setBigUint64(ptr + 24, BigInt(nlink), true);
  v.setBigUint64(ptr + rest, BigInt(sizeOf(node)), true);
  v.setBigUint64(ptr + rest + 8, node.atimNs, true);
  v.setBigUint64(ptr + rest + 16, node.mtimNs, true);
  v.setBigUint64(ptr + rest + 24, node.ctimNs, true);
  return Errno.SUCCESS;
}

/** Applies `fstflags` to a node's times (EINVAL when a time is both given and "now", EROFS in a read-only tree). */
export function setTimes(ctx: FsContext, node: Node, atim: bigint, mtim: bigint, flags: number): Errno {
  if ((flags & Fstflags.ATIM && flags & Fstflags.ATIM_NOW) || (flags & Fstflags.MTIM && flags & Fstflags.MTIM_NOW)) return Errno.INVAL;
  if (node.readOnly) return Errno.ROFS;
  const now = ctx.now();
  if (flags & Fstflags.ATIM) node.atimNs = atim;
  if (flags & Fstflags.ATIM_NOW) node.atimNs = now;
  if (flags & Fstflags.MTIM) node.mtimNs = mtim;
  if (flags & Fstflags.MTIM_NOW) node.mtimNs = now;
  node.ctimNs = now;
  return Errno.SUCCESS;
}
