/**
 * The `path_*` calls of WASI preview1 on hayate's in-memory filesystem. Each resolves its path from a
 * directory descriptor that must hold the call's right (EPERM without it) and may not leave that directory
 * (see `MemFs.resolve`); the errors are the ones Linux gives for the same operation.
 */
import { Errno, Lookupflags, Oflags, Rights } from './abi';
import type { Description } from './fd-table';
import { rightsFor } from './fd-table';
import type { Call, FsContext } from './fs-context';
import { setTimes, writeFilestat } from './fs-context';
import type { DirNode, Resolved } from './memfs';
import { PATH_MAX } from './resolve-path';

/**
 * Builds the `path_*` imports of one run.
 * @param ctx the run's state
 * @param preview0 build the `wasi_unstable` variants
 */
export function pathCalls(ctx: FsContext, preview0 = false): Record<string, Call> {
  // read from `ctx` at each call: one set of calls serves every run of a worker thread (wasi.ts)

  /** The directory of a descriptor that holds `right` (EPERM without it, as a WASI host answers). */
  const dirOf = (fd: number, right: number): DirNode | Errno => {
    const d = ctx.fds.get(fd);
    if (d === undefined) return Errno.BADF;
    if (d.node.kind !== 'dir') return Errno.NOTDIR;
    return (d.rights & right) === right ? d.node : Errno.PERM;
  };

  /** Resolves a guest path from a directory descriptor holding `right`. */
  const resolve = (fd: number, ptr: number, len: number, follow: boolean, right: number): Resolved | Errno => {
    const dir = dirOf(fd, right);
    if (typeof dir === 'number') return dir;
    // decode no more than a path can hold: a guest length of its whole memory costs the host nothing
    if (len >>> 0 > PATH_MAX) return Errno.NAMETOOLONG;
    const path = ctx.mem.latin1(ptr, len);
    if (path === null) return Errno.FAULT;
    if (path.includes('\0')) return Errno.INVAL;
    return ctx.fs.resolve(dir, path, follow);
  };

  const calls = {
    path_open(fd: number, dirflags: number, pathPtr: number, pathLen: number, oflags: number, rightsBase: bigint, rightsInheriting: bigint, fdflags: number, fdPtr: number): number {
      const create = (oflags & Oflags.CREAT) !== 0;
      const exclusive = create && (oflags & Oflags.EXCL) !== 0;
      const truncate = (oflags & Oflags.TRUNC) !== 0;
      const needed = Rights.PATH_OPEN | (create ? Rights.PATH_CREATE_FILE : 0) | (truncate ? Rights.PATH_FILESTAT_SET_SIZE : 0);
      const r = resolve(fd, pathPtr, pathLen, (dirflags & Lookupflags.SYMLINK_FOLLOW) !== 0 && !exclusive, needed);
      if (typeof r === 'number') return r;
      const from = ctx.fds.get(fd) as Description; // open: resolve succeeded
      // a new descriptor gets the rights asked for, within what its directory passes on and its kind allows
      const wanted = Number(rightsBase & 0x3fffffffn) & from.inheriting;
      let node = r.node;
      if (node === undefined) {
        if (!create) return Errno.NOENT;
        if ((oflags & Oflags.DIRECTORY) !== 0) return Errno.INVAL;
        const file = ctx.fs.createFile(r);
        if (typeof file === 'number') return file;
        node = file;
      } else {
        if (exclusive) return Errno.EXIST;
        // O_NOFOLLOW on a link: Linux answers ENOTDIR when a directory was asked for, ELOOP otherwise
        if (node.kind === 'symlink') return (oflags & Oflags.DIRECTORY) !== 0 || r.dirOnly ? Errno.NOTDIR : Errno.LOOP;
        if (node.kind !== 'dir' && ((oflags & Oflags.DIRECTORY) !== 0 || r.dirOnly)) return Errno.NOTDIR;
        if (node.kind === 'dir' && ((wanted & Rights.FD_WRITE) !== 0 || truncate)) return Errno.ISDIR;
        // a file of a read-only tree (a bundle) opens for reading only, as on a read-only mount
        if (node.kind === 'file' && node.readOnly && ((wanted & Rights.FD_WRITE) !== 0 || truncate)) return Errno.ROFS;
        if (node.kind === 'file' && truncate) {
          const err = ctx.fs.truncate(node, 0);
          if (err !== Errno.SUCCESS) return err;
        }
      }
      const inheriting = Number(rightsInheriting & 0x3fffffffn) & from.inheriting;
      const opened = ctx.fds.open({ node, offset: 0, rights: wanted & rightsFor(node), inheriting: node.kind === 'dir' ? inheriting : inheriting & rightsFor(node), fdflags, preopen: null, cursor: null });
      if (opened < 0) return Errno.MFILE;
      ctx.mem.view.setUint32(fdPtr, opened, true);
      return Errno.SUCCESS;
    },

    path_create_directory(fd: number, pathPtr: number, pathLen: number): number {
      const r = resolve(fd, pathPtr, pathLen, false, Rights.PATH_CREATE_DIRECTORY);
      return typeof r === 'number' ? r : ctx.fs.mkdir(r);
    },

    path_remove_directory(fd: number, pathPtr: number, pathLen: number): number {
      const r = resolve(fd, pathPtr, pathLen, false, Rights.PATH_REMOVE_DIRECTORY);
      return typeof r === 'number' ? r : ctx.fs.rmdir(r);
    },

    path_unlink_file(fd: number, pathPtr: number, pathLen: number): number {
      const r = resolve(fd, pathPtr, pathLen, false, Rights.PATH_UNLINK_FILE);
      return typeof r === 'number' ? r : ctx.fs.unlink(r);
    },

    path_rename(fd: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const from = resolve(fd, oldPtr, oldLen, false, Rights.PATH_RENAME_SOURCE);
      if (typeof from === 'number') return from;
      const to = resolve(newFd, newPtr, newLen, false, Rights.PATH_RENAME_TARGET);
      return typeof to === 'number' ? to : ctx.fs.rename(from, to);
    },

    path_link(oldFd: number, oldFlags: number, oldPtr: number, oldLen: number, newFd: number, newPtr: number, newLen: number): number {
      const from = resolve(oldFd, oldPtr, oldLen, (oldFlags & Lookupflags.SYMLINK_FOLLOW) !== 0, Rights.PATH_LINK_SOURCE);
      if (typeof from === 'number') return from;
      const to = resolve(newFd, newPtr, newLen, false, Rights.PATH_LINK_TARGET);
      return typeof to === 'number' ? to : ctx.fs.link(from, to);
    },

    path_symlink(targetPtr: number, targetLen: number, fd: number, pathPtr: number, pathLen: number): number {
      if (targetLen >>> 0 > PATH_MAX) return Errno.NAMETOOLONG;
      const target = ctx.mem.latin1(targetPtr, targetLen);
      if (target === null) return Errno.FAULT;
      const r = resolve(fd, pathPtr, pathLen, false, Rights.PATH_SYMLINK);
      return typeof r === 'number' ? r : ctx.fs.symlink(target, r);
    },

    path_readlink(fd: number, pathPtr: number, pathLen: number, buf: number, bufLen: number, bufusedPtr: number): number {
      const r = resolve(fd, pathPtr, pathLen, false, Rights.PATH_READLINK);
      if (typeof r === 'number') return r;
      if (r.node === undefined) return Errno.NOENT;
      if (r.node.kind !== 'symlink') return Errno.INVAL;
      const target = Buffer.from(r.node.target, 'latin1');
      const dst = ctx.mem.bytes(buf, Math.min(bufLen, target.length));
      if (dst === null) return Errno.FAULT;
      dst.set(target.subarray(0, dst.length));
      ctx.mem.view.setUint32(bufusedPtr, dst.length, true);
      return Errno.SUCCESS;
    },

    path_filestat_get(fd: number, flags: number, pathPtr: number, pathLen: number, ptr: number): number {
      const r = resolve(fd, pathPtr, pathLen, (flags & Lookupflags.SYMLINK_FOLLOW) !== 0, Rights.PATH_FILESTAT_GET);
      if (typeof r === 'number') return r;
      if (r.node === undefined) return Errno.NOENT;
      if (r.dirOnly && r.node.kind !== 'dir') return Errno.NOTDIR;
      return writeFilestat(ctx, ptr, r.node, preview0);
    },

    path_filestat_set_times(fd: number, flags: number, pathPtr: number, pathLen: number, atim: bigint, mtim: bigint, fstFlags: number): number {
      const r = resolve(fd, pathPtr, pathLen, (flags & Lookupflags.SYMLINK_FOLLOW) !== 0, Rights.PATH_FILESTAT_SET_TIMES);
      if (typeof r === 'number') return r;
      if (r.node === undefined) return Errno.NOENT;
      return setTimes(ctx, r.node, atim, mtim, fstFlags);
    },
  };
  return calls as unknown as Record<string, Call>;
}
