/**
 * The `fd_*` calls of WASI preview1 on hayate's in-memory filesystem, with the errors Linux gives for the
 * same operation (EBADF on a read of a write-only descriptor, ESPIPE on a seek of a stream…) and WASI's own
 * where the two differ (no seek on a directory). `wasi_unstable` (preview0) numbers `whence` differently and
 * has its own `filestat` layout; `preview0` selects them.
 */
import { randomFillSync } from 'node:crypto';
import { Errno, Fdflags, Layout, Rights, Whence } from './abi';
import type { Description } from './fd-table';
import { filetypeOf } from './fd-table';
import type { Call, FsContext } from './fs-context';
import { MAX_OFFSET, setTimes, sizeOf, writeFilestat } from './fs-context';
import type { FileNode } from './memfs';
import { readdir } from './readdir';

/** preview0 numbers `whence` CUR, END, SET. */
const PREVIEW0_WHENCE = [Whence.CUR, Whence.END, Whence.SET];

/**
 * Builds the `fd_*` imports of one run.
 * @param ctx the run's state
 * @param preview0 build the `wasi_unstable` variants
 */
export function fdCalls(ctx: FsContext, preview0 = false): Record<string, Call> {
  // read from `ctx` at each call: one set of calls serves every run of a worker thread (wasi.ts)

  /** An open descriptor holding `right` (EBADF without it, as POSIX answers a read of a write-only file). */
  const descriptor = (fd: number, right: number): Description | Errno => {
    const d = ctx.fds.get(fd);
    if (d === undefined) return Errno.BADF;
    return (d.rights & right) === right ? d : Errno.BADF;
  };

  /**
   * Reads into the checked iovecs at `iovs` from `d` at `offset` (files) or from the device; returns bytes
   * read, or -errno. Walks the guest's array in place: nothing is allocated per iovec.
   */
  const readInto = (d: Description, iovs: number, count: number, offset: number): number => {
    const node = d.node;
    if (node.kind === 'dir') return -Errno.ISDIR;
    if (node.kind === 'symlink') return -Errno.BADF;
    const u8 = ctx.mem.u8;
    let total = 0;
    for (let i = 0; i < count; i += 1) {
      const ptr = ctx.mem.iovPtr(iovs, i);
      const len = ctx.mem.iovLen(iovs, i);
      let n = len;
      if (node.kind === 'file') {
        n = ctx.fs.read(node, u8.subarray(ptr, ptr + len), offset + total);
      } else {
        switch (node.device) {
          case 'stdin':
            n = ctx.stdio.read(u8.subarray(ptr, ptr + len));
            break;
          case 'zero':
            u8.fill(0, ptr, ptr + len);
            break;
          case 'random':
            randomFillSync(u8, ptr, len);
            break;
          case 'null':
            return 0;
          case 'stdout':
          case 'stderr':
            return -Errno.BADF;
          default: {
            const never: never = node.device;
            throw new Error(`unknown device ${String(never)}`);
          }
        }
      }
      total += n;
      if (n < len) break;
    }
    return total;
  };

  /** Writes the checked iovecs at `iovs` to `d` at `offset` (files) or to the device; returns bytes written, or -errno. */
  const writeFrom = (d: Description, iovs: number, count: number, offset: number): number => {
    const node = d.node;
    if (node.kind !== 'file' && node.kind !== 'device') return -Errno.BADF;
    if (node.kind === 'device' && node.device === 'stdin') return -Errno.BADF;
    const u8 = ctx.mem.u8;
    let total = 0;
    for (let i = 0; i < count; i += 1) {
      const ptr = ctx.mem.iovPtr(iovs, i);
      const len = ctx.mem.iovLen(iovs, i);
      if (len === 0) continue;
      if (node.kind === 'file') {
        const err = ctx.fs.write(node, u8.subarray(ptr, ptr + len), offset + total);
        if (err !== Errno.SUCCESS) return total > 0 ? total : -err;
      } else if (node.device === 'stdout') {
        ctx.stdio.stdout.write(u8.subarray(ptr, ptr + len));
      } else if (node.device === 'stderr') {
        ctx.stdio.stderr.write(u8.subarray(ptr, ptr + len));
      }
      total += len;
    }
    return total;
  };

  /** What a seek moves on: a file, nothing (/dev/null and friends: every position is 0), or an errno. */
  const seekable = (d: Description): FileNode | null | Errno => {
    const node = d.node;
    if (node.kind === 'file') return node;
    // WASI gives directories no seek right (POSIX would take lseek on one)
    if (node.kind === 'dir' || node.kind === 'symlink') return Errno.BADF;
    if (node.kind === 'device' && (node.device === 'stdin' || node.device === 'stdout' || node.device === 'stderr')) return Errno.SPIPE;
    return null;
  };

  const calls = {
    fd_read(fd: number, iovs: number, iovsLen: number, nreadPtr: number): number {
      const d = descriptor(fd, Rights.FD_READ);
      if (typeof d === 'number') return d;
      const err = ctx.mem.checkIovecs(iovs, iovsLen);
      if (err !== Errno.SUCCESS) return err;
      const n = readInto(d, iovs, iovsLen, d.offset);
      if (n < 0) return -n;
      if (d.node.kind === 'file') d.offset += n;
      ctx.mem.view.setUint32(nreadPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
      const d = descriptor(fd, Rights.FD_WRITE);
      if (typeof d === 'number') return d;
      const err = ctx.mem.checkIovecs(iovs, iovsLen);
      if (err !== Errno.SUCCESS) return err;
      const file = d.node.kind === 'file' ? d.node : null;
      if (file !== null && (d.fdflags & Fdflags.APPEND) !== 0) d.offset = file.size;
      const n = writeFrom(d, iovs, iovsLen, d.offset);
      if (n < 0) return -n;
      if (file !== null) d.offset += n;
      ctx.mem.view.setUint32(nwrittenPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_pread(fd: number, iovs: number, iovsLen: number, offset: bigint, nreadPtr: number): number {
      const d = descriptor(fd, Rights.FD_READ);
      if (typeof d === 'number') return d;
      if (offset < 0n || offset > MAX_OFFSET) return Errno.INVAL;
      const target = seekable(d);
      if (typeof target === 'number') return target;
      const err = ctx.mem.checkIovecs(iovs, iovsLen);
      if (err !== Errno.SUCCESS) return err;
      const n = readInto(d, iovs, iovsLen, Number(offset));
      if (n < 0) return -n;
      ctx.mem.view.setUint32(nreadPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_pwrite(fd: number, iovs: number, iovsLen: number, offset: bigint, nwrittenPtr: number): number {
      const d = descriptor(fd, Rights.FD_WRITE);
      if (typeof d === 'number') return d;
      if (offset < 0n) return Errno.INVAL;
      if (offset > MAX_OFFSET) return Errno.FBIG;
      const at = Number(offset);
      const target = seekable(d);
      if (typeof target === 'number') return target;
      const err = ctx.mem.checkIovecs(iovs, iovsLen);
      if (err !== Errno.SUCCESS) return err;
      // Linux: on a descriptor opened with O_APPEND, pwrite appends whatever the offset, and the file
      // offset does not move (POSIX would write at the offset; wasi-testsuite accepts either)
      const n = writeFrom(d, iovs, iovsLen, target?.kind === 'file' && (d.fdflags & Fdflags.APPEND) !== 0 ? target.size : at);
      if (n < 0) return -n;
      ctx.mem.view.setUint32(nwrittenPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const target = seekable(d);
      if (typeof target === 'number') return target;
      const w = preview0 ? PREVIEW0_WHENCE[whence] : whence;
      let base: number;
      if (w === Whence.SET) base = 0;
      else if (w === Whence.CUR) base = d.offset;
      else if (w === Whence.END) base = target === null ? 0 : sizeOf(target);
      else return Errno.INVAL;
      const next = BigInt(base) + offset;
      if (next < 0n) return Errno.INVAL;
      if (next > MAX_OFFSET) return Errno.OVERFLOW;
      d.offset = target === null ? 0 : Number(next);
      ctx.mem.view.setBigUint64(newOffsetPtr, BigInt(d.offset), true);
      return Errno.SUCCESS;
    },

    fd_tell(fd: number, offsetPtr: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const target = seekable(d);
      if (typeof target === 'number') return target;
      ctx.mem.view.setBigUint64(offsetPtr, BigInt(d.offset), true);
      return Errno.SUCCESS;
    },

    fd_close(fd: number): number {
      return ctx.fds.close(fd);
    },

    fd_renumber(from: number, to: number): number {
      return ctx.fds.renumber(from, to);
    },

    fd_sync(fd: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      return d.node.kind === 'file' || d.node.kind === 'dir' ? Errno.SUCCESS : Errno.INVAL;
    },

    fd_datasync(fd: number): number {
      return calls.fd_sync(fd);
    },

    fd_advise(fd: number, _offset: bigint, _len: bigint, advice: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      if (advice > 5) return Errno.INVAL;
      return d.node.kind === 'file' ? Errno.SUCCESS : Errno.SPIPE;
    },

    fd_allocate(fd: number, offset: bigint, len: bigint): number {
      const d = descriptor(fd, Rights.FD_ALLOCATE);
      if (typeof d === 'number') return d;
      if (d.node.kind !== 'file') return d.node.kind === 'dir' ? Errno.BADF : Errno.SPIPE;
      if (offset < 0n || len <= 0n) return Errno.INVAL;
      const end = offset + len;
      if (end > MAX_OFFSET) return Errno.FBIG;
      return Number(end) > d.node.size ? ctx.fs.truncate(d.node, Number(end)) : Errno.SUCCESS;
    },

    fd_fdstat_get(fd: number, ptr: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const v = ctx.mem.view;
      if (ptr + Layout.FDSTAT_SIZE > v.byteLength) return Errno.FAULT;
      v.setUint8(ptr, filetypeOf(d.node));
      v.setUint8(ptr + 1, 0);
      v.setUint16(ptr + 2, d.fdflags, true);
      v.setUint32(ptr + 4, 0, true);
      v.setBigUint64(ptr + 8, BigInt(d.rights), true);
      v.setBigUint64(ptr + 16, BigInt(d.inheriting), true);
      return Errno.SUCCESS;
    },

    fd_fdstat_set_flags(fd: number, flags: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      d.fdflags = flags & (Fdflags.APPEND | Fdflags.DSYNC | Fdflags.NONBLOCK | Fdflags.RSYNC | Fdflags.SYNC);
      return Errno.SUCCESS;
    },

    fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const b = Number(base & 0x3fffffffn);
      const i = Number(inheriting & 0x3fffffffn);
      // rights can only be dropped (76 = ENOTCAPABLE)
      if ((b & ~d.rights) !== 0 || (i & ~d.inheriting) !== 0) return 76;
      d.rights = b;
      d.inheriting = i;
      return Errno.SUCCESS;
    },

    fd_filestat_get(fd: number, ptr: number): number {
      const d = ctx.fds.get(fd);
      return d === undefined ? Errno.BADF : writeFilestat(ctx, ptr, d.node, preview0);
    },

    fd_filestat_set_size(fd: number, size: bigint): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      // Linux: EINVAL for ftruncate of a descriptor not open for writing, or of a directory
      if (d.node.kind !== 'file' || (d.rights & Rights.FD_FILESTAT_SET_SIZE) === 0) return Errno.INVAL;
      if (size < 0n) return Errno.INVAL;
      if (size > MAX_OFFSET) return Errno.FBIG;
      return ctx.fs.truncate(d.node, Number(size));
    },

    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number): number {
      const d = ctx.fds.get(fd);
      return d === undefined ? Errno.BADF : setTimes(ctx, d.node, atim, mtim, flags);
    },

    fd_prestat_get(fd: number, ptr: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined || d.preopen === null) return Errno.BADF;
      const v = ctx.mem.view;
      v.setUint32(ptr, 0, true); // tag 0: a directory
      v.setUint32(ptr + 4, d.preopen.length, true);
      return Errno.SUCCESS;
    },

    fd_prestat_dir_name(fd: number, ptr: number, len: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined || d.preopen === null) return Errno.BADF;
      if (len < d.preopen.length) return Errno.NAMETOOLONG;
      const dst = ctx.mem.bytes(ptr, d.preopen.length);
      if (dst === null) return Errno.FAULT;
      dst.set(Buffer.from(d.preopen, 'latin1'));
      return Errno.SUCCESS;
    },

    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, bufusedPtr: number): number {
      const d = ctx.fds.get(fd);
      if (d === undefined) return Errno.BADF;
      if ((d.rights & Rights.FD_READDIR) === 0) return Errno.BADF;
      if (d.node.kind !== 'dir') return Errno.NOTDIR;
      // a dircookie is a u64: the guest's i64 is negative from 2^63 up, which no listing reaches
      if (cookie < 0n) return Errno.INVAL;
      if (!ctx.mem.inBounds(buf, bufLen) || !ctx.mem.inBounds(bufusedPtr, 4)) return Errno.FAULT;
      const used = readdir(ctx.mem, d, buf >>> 0, bufLen >>> 0, cookie);
      ctx.mem.view.setUint32(bufusedPtr >>> 0, used, true);
      return Errno.SUCCESS;
    },
  };
  return calls as unknown as Record<string, Call>;
}

/**
 * For `poll_oneoff`: -1 when `d` never becomes ready in this direction (stdin for writing, stdout and
 * stderr for reading, as the pipes they stand for), else the bytes readable (0 when not known).
 */
export function readiness(ctx: FsContext, d: Description, forRead: boolean): number {
  const node = d.node;
  if (node.kind === 'device') {
    if (node.device === 'stdin') return forRead ? ctx.stdio.inputLeft : -1;
    if (node.device === 'stdout' || node.device === 'stderr') return forRead ? -1 : 0;
  }
  if (forRead && node.kind === 'file') return Math.max(0, node.size - d.offset);
  return 0;
}

/** stdin is a pipe whose writer has closed: the whole request is there. Linux flags such a pipe POLLHUP. */
export function hangup(d: Description): boolean {
  return d.node.kind === 'device' && d.node.device === 'stdin';
}
