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
import type { FileNode, Node } from './memfs';

/** preview0 numbers `whence` CUR, END, SET. */
const PREVIEW0_WHENCE = [Whence.CUR, Whence.END, Whence.SET];

/**
 * Builds the `fd_*` imports of one run.
 * @param ctx the run's state
 * @param preview0 build the `wasi_unstable` variants
 */
export function fdCalls(ctx: FsContext, preview0 = false): Record<string, Call> {
  const { mem, fs, fds, stdio } = ctx;

  /** An open descriptor holding `right` (EBADF without it, as POSIX answers a read of a write-only file). */
  const descriptor = (fd: number, right: number): Description | Errno => {
    const d = fds.get(fd);
    if (d === undefined) return Errno.BADF;
    return (d.rights & right) === right ? d : Errno.BADF;
  };

  /** Reads into `bufs` from `d` at `offset` (files) or from the device; returns bytes read, or -errno. */
  const readInto = (d: Description, bufs: Uint8Array[], offset: number): number => {
    const node = d.node;
    let total = 0;
    switch (node.kind) {
      case 'file':
        for (const b of bufs) {
          const n = fs.read(node, b, offset + total);
          total += n;
          if (n < b.length) break;
        }
        return total;
      case 'dir':
        return -Errno.ISDIR;
      case 'symlink':
        return -Errno.BADF;
      case 'device':
        for (const b of bufs) {
          switch (node.device) {
            case 'stdin': {
              const n = stdio.read(b);
              total += n;
              if (n < b.length) return total;
              break;
            }
            case 'zero':
              b.fill(0);
              total += b.length;
              break;
            case 'random':
              randomFillSync(b);
              total += b.length;
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
        return total;
      default: {
        const never: never = node;
        throw new Error(`unknown node ${JSON.stringify(never)}`);
      }
    }
  };

  /** Writes `bufs` to `d` at `offset` (files) or to the device; returns bytes written, or -errno. */
  const writeFrom = (d: Description, bufs: Uint8Array[], offset: number): number => {
    const node = d.node;
    let total = 0;
    if (node.kind === 'file') {
      for (const b of bufs) {
        const err = fs.write(node, b, offset + total);
        if (err !== Errno.SUCCESS) return total > 0 ? total : -err;
        total += b.length;
      }
      return total;
    }
    if (node.kind !== 'device') return -Errno.BADF;
    for (const b of bufs) {
      if (node.device === 'stdout') stdio.stdout.write(b);
      else if (node.device === 'stderr') stdio.stderr.write(b);
      else if (node.device === 'stdin') return -Errno.BADF;
      total += b.length;
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
      const bufs = mem.iovecs(iovs, iovsLen);
      if (bufs === null) return Errno.FAULT;
      const n = readInto(d, bufs, d.offset);
      if (n < 0) return -n;
      if (d.node.kind === 'file') d.offset += n;
      mem.view.setUint32(nreadPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
      const d = descriptor(fd, Rights.FD_WRITE);
      if (typeof d === 'number') return d;
      const bufs = mem.iovecs(iovs, iovsLen);
      if (bufs === null) return Errno.FAULT;
      const file = d.node.kind === 'file' ? d.node : null;
      if (file !== null && (d.fdflags & Fdflags.APPEND) !== 0) d.offset = file.size;
      const n = writeFrom(d, bufs, d.offset);
      if (n < 0) return -n;
      if (file !== null) d.offset += n;
      mem.view.setUint32(nwrittenPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_pread(fd: number, iovs: number, iovsLen: number, offset: bigint, nreadPtr: number): number {
      const d = descriptor(fd, Rights.FD_READ);
      if (typeof d === 'number') return d;
      if (offset < 0n || offset > MAX_OFFSET) return Errno.INVAL;
      const target = seekable(d);
      if (typeof target === 'number') return target;
      const bufs = mem.iovecs(iovs, iovsLen);
      if (bufs === null) return Errno.FAULT;
      const n = readInto(d, bufs, Number(offset));
      if (n < 0) return -n;
      mem.view.setUint32(nreadPtr, n, true);
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
      const bufs = mem.iovecs(iovs, iovsLen);
      if (bufs === null) return Errno.FAULT;
      // Linux: on a descriptor opened with O_APPEND, pwrite appends whatever the offset
      const n = writeFrom(d, bufs, target?.kind === 'file' && (d.fdflags & Fdflags.APPEND) !== 0 ? target.size : at);
      if (n < 0) return -n;
      mem.view.setUint32(nwrittenPtr, n, true);
      return Errno.SUCCESS;
    },

    fd_seek(fd: number, offset: bigint, whence: number, newOffsetPtr: number): number {
      const d = fds.get(fd);
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
      mem.view.setBigUint64(newOffsetPtr, BigInt(d.offset), true);
      return Errno.SUCCESS;
    },

    fd_tell(fd: number, offsetPtr: number): number {
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const target = seekable(d);
      if (typeof target === 'number') return target;
      mem.view.setBigUint64(offsetPtr, BigInt(d.offset), true);
      return Errno.SUCCESS;
    },

    fd_close(fd: number): number {
      return fds.close(fd);
    },

    fd_renumber(from: number, to: number): number {
      return fds.renumber(from, to);
    },

    fd_sync(fd: number): number {
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      return d.node.kind === 'file' || d.node.kind === 'dir' ? Errno.SUCCESS : Errno.INVAL;
    },

    fd_datasync(fd: number): number {
      return calls.fd_sync(fd);
    },

    fd_advise(fd: number, _offset: bigint, _len: bigint, advice: number): number {
      const d = fds.get(fd);
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
      return Number(end) > d.node.size ? fs.truncate(d.node, Number(end)) : Errno.SUCCESS;
    },

    fd_fdstat_get(fd: number, ptr: number): number {
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const v = mem.view;
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
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      d.fdflags = flags & (Fdflags.APPEND | Fdflags.DSYNC | Fdflags.NONBLOCK | Fdflags.RSYNC | Fdflags.SYNC);
      return Errno.SUCCESS;
    },

    fd_fdstat_set_rights(fd: number, base: bigint, inheriting: bigint): number {
      const d = fds.get(fd);
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
      const d = fds.get(fd);
      return d === undefined ? Errno.BADF : writeFilestat(ctx, ptr, d.node, preview0);
    },

    fd_filestat_set_size(fd: number, size: bigint): number {
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      // Linux: EINVAL for ftruncate of a descriptor not open for writing, or of a directory
      if (d.node.kind !== 'file' || (d.rights & Rights.FD_FILESTAT_SET_SIZE) === 0) return Errno.INVAL;
      if (size < 0n) return Errno.INVAL;
      if (size > MAX_OFFSET) return Errno.FBIG;
      return fs.truncate(d.node, Number(size));
    },

    fd_filestat_set_times(fd: number, atim: bigint, mtim: bigint, flags: number): number {
      const d = fds.get(fd);
      return d === undefined ? Errno.BADF : setTimes(ctx, d.node, atim, mtim, flags);
    },

    fd_prestat_get(fd: number, ptr: number): number {
      const d = fds.get(fd);
      if (d === undefined || d.preopen === null) return Errno.BADF;
      const v = mem.view;
      v.setUint32(ptr, 0, true); // tag 0: a directory
      v.setUint32(ptr + 4, d.preopen.length, true);
      return Errno.SUCCESS;
    },

    fd_prestat_dir_name(fd: number, ptr: number, len: number): number {
      const d = fds.get(fd);
      if (d === undefined || d.preopen === null) return Errno.BADF;
      if (len < d.preopen.length) return Errno.NAMETOOLONG;
      const dst = mem.bytes(ptr, d.preopen.length);
      if (dst === null) return Errno.FAULT;
      dst.set(Buffer.from(d.preopen, 'latin1'));
      return Errno.SUCCESS;
    },

    fd_readdir(fd: number, buf: number, bufLen: number, cookie: bigint, bufusedPtr: number): number {
      const d = fds.get(fd);
      if (d === undefined) return Errno.BADF;
      const dir = d.node;
      if (dir.kind !== 'dir') return Errno.NOTDIR;
      const out = mem.bytes(buf, bufLen);
      if (out === null) return Errno.FAULT;
      if (cookie === 0n || d.dirents === null) d.dirents = [['.', dir], ['..', dir.parent], ...dir.entries];
      let used = 0;
      const entry = new Uint8Array(Layout.DIRENT_SIZE + 256);
      const ev = new DataView(entry.buffer);
      for (let i = Number(cookie); i < d.dirents.length && used < bufLen; i += 1) {
        const [name, node] = d.dirents[i] as [string, Node];
        ev.setBigUint64(0, BigInt(i + 1), true);
        ev.setBigUint64(8, BigInt(node.ino), true);
        ev.setUint32(16, name.length, true);
        ev.setUint32(20, filetypeOf(node), true);
        entry.set(Buffer.from(name, 'latin1'), Layout.DIRENT_SIZE);
        // a last entry that does not fit is cut: the caller sees a full buffer and asks again from its cookie
        const size = Math.min(Layout.DIRENT_SIZE + name.length, bufLen - used);
        out.set(entry.subarray(0, size), used);
        used += size;
      }
      mem.view.setUint32(bufusedPtr, used, true);
      return Errno.SUCCESS;
    },
  };
  return calls as unknown as Record<string, Call>;
}

/** Bytes of stdin left and whether it is at EOF, for `poll_oneoff`'s fd_read events. */
export function readiness(ctx: FsContext, d: Description, forRead: boolean): { nbytes: number; hangup: boolean } {
  const node = d.node;
  if (!forRead) return { nbytes: 0, hangup: false };
  if (node.kind === 'file') return { nbytes: Math.max(0, node.size - d.offset), hangup: false };
  if (node.kind === 'device' && node.device === 'stdin') return { nbytes: ctx.stdio.inputLeft, hangup: ctx.stdio.inputLeft === 0 };
  return { nbytes: 0, hangup: false };
}
