/**
 * File descriptors of one run: 0, 1, 2 on /dev/stdin, /dev/stdout, /dev/stderr, 3 the preopened `/`, then
 * the lowest free number on each open (as POSIX), up to `MAX_FDS` (EMFILE past it).
 */
import { ALL_RIGHTS, DIRECTORY_RIGHTS, Errno, FILE_RIGHTS, Filetype, Rights, STREAM_RIGHTS } from './abi';
import type { MemFs, Node } from './memfs';
import type { DirCursor } from './readdir';

/** Open descriptors per run; bounds what a function can hold. */
export const MAX_FDS = 1024;

/** An open file description. */
export interface Description {
  node: Node;
  offset: number;
  /** `rights` bits granted (base) and passed on to files opened through this directory (inheriting). */
  rights: number;
  inheriting: number;
  fdflags: number;
  /** The name of a preopened directory, as `fd_prestat_dir_name` gives it. */
  preopen: string | null;
  /** Where the last `fd_readdir` of this description stopped (see readdir.ts). */
  cursor: DirCursor | null;
}

/** The WASI file type of a node. Streams report UNKNOWN, as a pipe does under other runtimes. */
export function filetypeOf(node: Node): Filetype {
  switch (node.kind) {
    case 'file':
      return Filetype.REGULAR_FILE;
    case 'dir':
      return Filetype.DIRECTORY;
    case 'symlink':
      return Filetype.SYMBOLIC_LINK;
    case 'device':
      return node.device === 'stdin' || node.device === 'stdout' || node.device === 'stderr' ? Filetype.UNKNOWN : Filetype.CHARACTER_DEVICE;
    default: {
      const never: never = node;
      throw new Error(`unknown node ${JSON.stringify(never)}`);
    }
  }
}

/** The rights a node of this kind can have at most. */
export function rightsFor(node: Node): number {
  switch (node.kind) {
    case 'file':
      return FILE_RIGHTS;
    case 'dir':
      return DIRECTORY_RIGHTS;
    case 'symlink':
      return 0;
    case 'device':
      return node.device === 'stdin' || node.device === 'stdout' || node.device === 'stderr' ? STREAM_RIGHTS : STREAM_RIGHTS | Rights.FD_SEEK | Rights.FD_TELL;
    default: {
      const never: never = node;
      throw new Error(`unknown node ${JSON.stringify(never)}`);
    }
  }
}

export class FdTable {
  private readonly table: (Description | undefined)[] = [];

  constructor(private readonly fs: MemFs) {
    const stream = (name: 'stdin' | 'stdout' | 'stderr', rights: number): Description => ({ node: fs.device(name), offset: 0, rights, inheriting: 0, fdflags: 0, preopen: null, cursor: null });
    this.table.push(
      stream('stdin', STREAM_RIGHTS & ~Rights.FD_WRITE),
      stream('stdout', STREAM_RIGHTS & ~Rights.FD_READ),
      stream('stderr', STREAM_RIGHTS & ~Rights.FD_READ),
      { node: fs.root, offset: 0, rights: DIRECTORY_RIGHTS, inheriting: ALL_RIGHTS, fdflags: 0, preopen: '/', cursor: null },
    );
  }

  get(fd: number): Description | undefined {
    return this.table[fd];
  }

  /** Places `d` at the lowest free descriptor; -1 when `MAX_FDS` are open (EMFILE). */
  open(d: Description): number {
    let fd = this.table.indexOf(undefined);
    if (fd < 0) fd = this.table.length;
    if (fd >= MAX_FDS) return -1;
    this.table[fd] = d;
    if (d.node.kind === 'file') d.node.opens += 1;
    return fd;
  }

  close(fd: number): Errno {
    const d = this.table[fd];
    if (d === undefined) return Errno.BADF;
    this.table[fd] = undefined;
    if (d.node.kind === 'file') {
      d.node.opens -= 1;
      this.fs.releaseIfUnused(d.node);
    }
    return Errno.SUCCESS;
  }

  /** `fd_renumber`: moves `from` onto `to`, closing what `to` held. */
  renumber(from: number, to: number): Errno {
    const d = this.table[from];
    if (d === undefined || this.table[to] === undefined) return Errno.BADF;
    if (from === to) return Errno.SUCCESS;
    this.close(to);
    this.table[to] = d;
    this.table[from] = undefined;
    return Errno.SUCCESS;
  }
}
