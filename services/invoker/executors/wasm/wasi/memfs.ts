/**
 * The in-memory filesystem a WASM function sees: a fresh tree per invocation, with POSIX semantics where C
 * and Rust programs rely on them (overwrite in place, sparse growth, hard and symbolic links, rename over
 * an existing name, ENOTEMPTY, ENOTDIR, ELOOP…).
 *
 *   /          read-only (EROFS), as the container tier's root
 *   /tmp       writable
 *   /dev       read-only: null, zero, random, urandom, stdin, stdout, stderr
 *
 * Everything a function stores (file bytes, and a fixed cost per name) counts against `limitBytes`; past
 * it, writes fail with ENOSPC, so a function cannot fill the invoker's memory through /tmp.
 * Names are kept as latin1 strings, one char per byte: byte-exact whatever their encoding.
 */
import { Errno } from './abi';
import { PATH_MAX, resolvePath } from './resolve-path';

/** Bytes charged for each directory entry on top of its name: the node and map slot it costs. */
export const ENTRY_COST = 256;

const EMPTY = new Uint8Array(0);

/** What a device node does on read and write. */
export const Device = { null: 'null', zero: 'zero', random: 'random', stdin: 'stdin', stdout: 'stdout', stderr: 'stderr' } as const;
export type Device = (typeof Device)[keyof typeof Device];

interface Meta {
  readonly ino: number;
  /** Part of a read-only tree (/, /dev, a bundle): its bytes, times and entries never change (EROFS). */
  readonly readOnly: boolean;
  nlink: number;
  atimNs: bigint;
  mtimNs: bigint;
  ctimNs: bigint;
}

export interface FileNode extends Meta {
  kind: 'file';
  /** Bytes past `size` are always zero, so growing a file needs no clearing. */
  data: Uint8Array;
  size: number;
  /** Open descriptions: an unlinked file keeps its bytes until the last one closes. */
  opens: number;
  /**
   * `data` views a bundle's bytes that other runs share (bundle-fs.ts): not counted against the limit, never
   * written in place (a read-only one refuses writes, EROFS; a writable one is copied first). Unset: the run's own.
   */
  shared?: true;
}

export interface DirNode extends Meta {
  kind: 'dir';
  entries: Map<string, Node>;
  /** The root is its own parent (POSIX: `/..` is `/`). */
  parent: DirNode;
  removed: boolean;
}

export interface SymlinkNode extends Meta {
  kind: 'symlink';
  target: string;
}

export interface DeviceNode extends Meta {
  kind: 'device';
  device: Device;
}

export type Node = FileNode | DirNode | SymlinkNode | DeviceNode;

/** A resolved path: the directory holding the last component, its name and the node, if any. */
export interface Resolved {
  parent: DirNode;
  name: string;
  node: Node | undefined;
  /** The path ended with `/`: it must name a directory. */
  dirOnly: boolean;
}

export class MemFs {
  readonly root: DirNode;
  private nextIno = 1;
  private used = 0;
  /** An allocation was refused for want of room (the invocation may have failed for that reason). */
  full = false;

  /**
   * @param limitBytes bytes the function may store in files and names
   * @param now current realtime clock in nanoseconds
   * @param writableRoot `/` takes new entries (a writable bundle is mounted there) @default false: EROFS
   */
  constructor(
    readonly limitBytes: number,
    private readonly now: () => bigint,
    writableRoot = false,
  ) {
    this.root = this.newDir(null, !writableRoot);
    this.root.entries.set('tmp', this.newDir(this.root, false));
    const dev = this.newDir(this.root, true);
    this.root.entries.set('dev', dev);
    for (const [name, device] of [['null', Device.null], ['zero', Device.zero], ['random', Device.random], ['urandom', Device.random], ['stdin', Device.stdin], ['stdout', Device.stdout], ['stderr', Device.stderr]] as const) {
      dev.entries.set(name, { kind: 'device', device, ...this.meta(true) });
    }
  }

  /** Bytes stored by the function. */
  get usedBytes(): number {
    return this.used;
  }

  /** The node of `/dev/<name>`. */
  device(name: 'stdin' | 'stdout' | 'stderr'): DeviceNode {
    const node = (this.root.entries.get('dev') as DirNode).entries.get(name);
    if (node?.kind !== 'device') throw new Error(`hayate memfs lost /dev/${name}`);
    return node;
  }

  /** Metadata of a new node: a fresh inode number, times now (public for the bundle layer). */
  meta(readOnly = false): Meta {
    const t = this.now();
    return { ino: this.nextIno++, readOnly, nlink: 1, atimNs: t, mtimNs: t, ctimNs: t };
  }

  /** A new, empty directory under `parent` (the root when null), not yet linked (public for the bundle layer). */
  newDir(parent: DirNode | null, readOnly: boolean): DirNode {
    const dir = { kind: 'dir', entries: new Map(), removed: false, ...this.meta(readOnly) } as unknown as DirNode;
    dir.parent = parent ?? dir;
    return dir;
  }

  /** Counts `bytes` as stored; false (ENOSPC) past the limit unless `always` (public for the bundle layer). */
  reserve(bytes: number, always = false): boolean {
    if (!always && this.used + bytes > this.limitBytes) {
      this.full = true;
      return false;
    }
    this.used += bytes;
    return true;
  }

  private touch(dir: DirNode): void {
    const t = this.now();
    dir.mtimNs = t;
    dir.ctimNs = t;
  }

  /** Resolves `path` from `start` (see `resolvePath`). */
  resolve(start: DirNode, path: string, followLast: boolean): Resolved | Errno {
    return resolvePath(this.root, start, path, followLast);
  }

  /** Checks that a new entry may be added under `r.parent`. */
  private canAdd(r: Resolved): Errno {
    if (r.node !== undefined || r.name === '.' || r.name === '..') return Errno.EXIST;
    if (r.parent.removed) return Errno.NOENT;
    if (r.parent.readOnly) return Errno.ROFS;
    return Errno.SUCCESS;
  }

  private add(r: Resolved, node: Node): Errno {
    if (!this.reserve(ENTRY_COST + r.name.length)) return Errno.NOSPC;
    r.parent.entries.set(r.name, node);
    this.touch(r.parent);
    return Errno.SUCCESS;
  }

  private drop(parent: DirNode, name: string, node: Node): void {
    parent.entries.delete(name);
    this.used -= ENTRY_COST + name.length;
    this.touch(parent);
    node.nlink -= 1;
    node.ctimNs = this.now();
    if (node.kind === 'dir') {
      node.removed = true;
      node.nlink = 0;
    }
    if (node.kind === 'file') this.releaseIfUnused(node);
  }

  /** Makes a bundle file's shared bytes (bundle-fs.ts) this run's own before a change, keeping `keep` bytes. */
  private ownFile(file: FileNode, keep: number): Errno {
    if (file.readOnly) return Errno.ROFS;
    const bytes = Math.min(keep, file.size);
    if (!this.reserve(bytes)) return Errno.NOSPC;
    Object.assign(file, { data: file.data.slice(0, bytes), size: bytes, shared: undefined });
    return Errno.SUCCESS;
  }

  /** Frees a file's bytes once no name and no open description refers to it. */
  releaseIfUnused(file: FileNode): void {
    if (file.nlink > 0 || file.opens > 0) return;
    if (file.shared !== true) this.used -= file.data.byteLength;
    file.shared = undefined;
    file.data = EMPTY;
    file.size = 0;
  }

  /** Creates an empty regular file at `r`. */
  createFile(r: Resolved): FileNode | Errno {
    if (r.dirOnly) return Errno.ISDIR;
    const err = this.canAdd(r);
    if (err !== Errno.SUCCESS) return err;
    const file: FileNode = { kind: 'file', data: EMPTY, size: 0, opens: 0, ...this.meta() };
    const added = this.add(r, file);
    return added === Errno.SUCCESS ? file : added;
  }

  mkdir(r: Resolved): Errno {
    const err = this.canAdd(r);
    if (err !== Errno.SUCCESS) return err;
    return this.add(r, this.newDir(r.parent, false));
  }

  /** A symbolic link to `target`; an absolute target is refused (EPERM): it could only point out of a preopen. */
  symlink(target: string, r: Resolved): Errno {
    if (target.length > PATH_MAX) return Errno.NAMETOOLONG;
    if (target.startsWith('/')) return Errno.PERM;
    if (r.dirOnly && r.node === undefined) return Errno.NOENT;
    if (r.dirOnly && r.node !== undefined && r.node.kind !== 'dir') return Errno.NOTDIR;
    const err = this.canAdd(r);
    if (err !== Errno.SUCCESS) return err;
    if (!this.reserve(target.length)) return Errno.NOSPC;
    const added = this.add(r, { kind: 'symlink', target, ...this.meta() });
    if (added !== Errno.SUCCESS) this.used -= target.length;
    return added;
  }

  /** A hard link `to` of the node at `from` (not of directories: EPERM, as Linux). */
  link(from: Resolved, to: Resolved): Errno {
    const node = from.node;
    if (node === undefined) return Errno.NOENT;
    if (node.kind === 'dir' || node.kind === 'device') return Errno.PERM;
    if (from.dirOnly) return Errno.NOTDIR;
    if (to.dirOnly) return to.node === undefined ? Errno.NOENT : Errno.EXIST;
    const err = this.canAdd(to);
    if (err !== Errno.SUCCESS) return err;
    const added = this.add(to, node);
    if (added === Errno.SUCCESS) {
      node.nlink += 1;
      node.ctimNs = this.now();
    }
    return added;
  }

  unlink(r: Resolved): Errno {
    const node = r.node;
    if (node === undefined) return Errno.NOENT;
    if (node.kind === 'dir') return Errno.ISDIR;
    if (r.dirOnly) return Errno.NOTDIR;
    if (r.parent.readOnly) return Errno.ROFS;
    this.drop(r.parent, r.name, node);
    return Errno.SUCCESS;
  }

  rmdir(r: Resolved): Errno {
    const node = r.node;
    if (node === undefined) return Errno.NOENT;
    if (r.name === '.') return Errno.INVAL;
    if (node.kind !== 'dir') return Errno.NOTDIR;
    if (node === this.root || r.parent.readOnly) return node === this.root ? Errno.BUSY : Errno.ROFS;
    if (node.entries.size > 0 || r.name === '..') return Errno.NOTEMPTY;
    this.drop(r.parent, r.name, node);
    return Errno.SUCCESS;
  }

  /** POSIX rename: replaces an existing target of a compatible kind, refuses to move a directory into itself. */
  rename(from: Resolved, to: Resolved): Errno {
    const node = from.node;
    if (node === undefined) return Errno.NOENT;
    if (from.name === '.' || from.name === '..' || to.name === '.' || to.name === '..') return Errno.INVAL;
    if (to.parent.removed) return Errno.NOENT;
    if (from.parent.readOnly || to.parent.readOnly) return Errno.ROFS;
    const target = to.node;
    if (node.kind === 'dir') {
      if (target !== undefined && target.kind !== 'dir') return Errno.NOTDIR;
      if (target !== undefined && target.kind === 'dir' && target.entries.size > 0 && target !== node) return Errno.NOTEMPTY;
      for (let d = to.parent; ; d = d.parent) {
        if (d === node) return Errno.INVAL;
        if (d === this.root) break;
      }
    } else {
      if (from.dirOnly || to.dirOnly) return Errno.NOTDIR;
      if (target !== undefined && target.kind === 'dir') return Errno.ISDIR;
    }
    if (target === node) return Errno.SUCCESS;
    if (target === undefined && !this.reserve(ENTRY_COST + to.name.length)) return Errno.NOSPC;
    if (target !== undefined) {
      to.parent.entries.delete(to.name);
      target.nlink -= 1;
      if (target.kind === 'dir') target.removed = true;
      if (target.kind === 'file') this.releaseIfUnused(target);
    }
    from.parent.entries.delete(from.name);
    this.used -= ENTRY_COST + from.name.length;
    to.parent.entries.set(to.name, node);
    if (node.kind === 'dir') node.parent = to.parent;
    node.ctimNs = this.now();
    this.touch(from.parent);
    this.touch(to.parent);
    return Errno.SUCCESS;
  }

  /** Copies up to `dst.length` bytes from `offset`; returns how many. */
  read(file: FileNode, dst: Uint8Array, offset: number): number {
    if (offset >= file.size) return 0;
    const n = Math.min(dst.length, file.size - offset);
    dst.set(file.data.subarray(offset, offset + n));
    return n;
  }

  /** Writes `src` at `offset`, overwriting in place and growing (zero-filled) as needed. */
  write(file: FileNode, src: Uint8Array, offset: number): Errno {
    const owned = file.shared !== true ? Errno.SUCCESS : this.ownFile(file, file.size);
    if (owned !== Errno.SUCCESS) return owned;
    const end = offset + src.length;
    if (end > file.data.length && !this.grow(file, end)) return Errno.NOSPC;
    file.data.set(src, offset);
    if (end > file.size) file.size = end;
    const t = this.now();
    file.mtimNs = t;
    file.ctimNs = t;
    return Errno.SUCCESS;
  }

  /** Sets the size; growth reads as zeros. */
  truncate(file: FileNode, size: number): Errno {
    const owned = file.shared !== true ? Errno.SUCCESS : this.ownFile(file, size);
    if (owned !== Errno.SUCCESS) return owned;
    if (size > file.data.length && !this.grow(file, size)) return Errno.NOSPC;
    if (size === 0 && file.data.length > 0) {
      this.used -= file.data.length;
      file.data = EMPTY;
    } else if (size < file.size) {
      file.data.fill(0, size, file.size);
    }
    file.size = size;
    const t = this.now();
    file.mtimNs = t;
    file.ctimNs = t;
    return Errno.SUCCESS;
  }

  private grow(file: FileNode, needed: number): boolean {
    const old = file.data.length;
    const room = this.limitBytes - this.used;
    if (needed - old > room) {
      this.full = true;
      return false;
    }
    // double while small, so a file written in small pieces is not copied at every write
    const capacity = Math.min(Math.max(needed, old * 2, 4096), old + room);
    const data = new Uint8Array(capacity);
    data.set(file.data.subarray(0, file.size));
    this.used += capacity - old;
    file.data = data;
    return true;
  }

  /** Link count as stat shows it: a directory counts `.`, its entry in the parent and each subdirectory's `..`. */
  nlinkOf(node: Node): number {
    if (node.kind !== 'dir') return node.nlink;
    let n = 2;
    for (const child of node.entries.values()) if (child.kind === 'dir') n += 1;
    return n;
  }
}
