/**
 * A function's bundle of files as a lower layer of one run's in-memory filesystem (see `MemFs`).
 *
 * The bundle is an immutable tree (`BundleIndex`, made once per invoker) over one shared buffer of tar bytes,
 * given to each worker thread once. A run does not copy it: its directories become `DirNode`s only when the
 * run first looks into them, and its files are `FileNode`s whose `data` is a view of the shared bytes,
 * marked `shared`. Read-only (the default), its nodes carry MemFs' `readOnly` flag, as `/` and `/dev` do:
 * writes fail with EROFS, as on a read-only mount. With `files_writable`, a file is copied on its first write
 * (`MemFs.write`), and that copy, like every entry the run sees in a writable bundle, counts against the
 * run's filesystem limit (its `memory_mb`).
 */
import type { BundleDir, BundleEntry, BundleFile } from '../../../../common/bundle-tar';
import { BUNDLE_RESERVED_ROOT_NAMES } from '../../../../common/bundle-tar';
import type { DirNode, FileNode, MemFs, Node } from './memfs';
import { ENTRY_COST } from './memfs';

/** What a run mounts: the bundle's tree and bytes, where, and how. */
export interface BundleMount {
  root: BundleDir;
  /** The tar's bytes (a view of a SharedArrayBuffer); file offsets are relative to it. */
  data: Uint8Array;
  /** Absolute mount point, `/` or e.g. `/srv/data` (checked at deploy). */
  path: string;
  writable: boolean;
}

const RESERVED: ReadonlySet<string> = new Set(BUNDLE_RESERVED_ROOT_NAMES);

function ns(ms: number): bigint {
  return BigInt(Math.max(0, Math.round(ms))) * 1_000_000n;
}

/** One run's view of one bundle: builds nodes on demand and keeps hard links one node. */
class BundleLayer {
  private readonly files = new Map<BundleFile, FileNode>();

  constructor(
    private readonly fs: MemFs,
    private readonly mount: BundleMount,
  ) {}

  /** Gives `dir` the children of `source`, made when something first reads `dir.entries`. */
  fillLazily(dir: DirNode, source: BundleDir, skip: ReadonlySet<string> | null): void {
    let entries: Map<string, Node> | null = null;
    const own = dir.entries;
    Object.defineProperty(dir, 'entries', {
      configurable: true,
      enumerable: true,
      get: () => (entries ??= this.fill(own, dir, source, skip)),
      set: (value: Map<string, Node>) => {
        entries = value;
      },
    });
  }

  private fill(into: Map<string, Node>, dir: DirNode, source: BundleDir, skip: ReadonlySet<string> | null): Map<string, Node> {
    for (const [name, entry] of source.entries) {
      if (skip?.has(name) === true || into.has(name)) continue;
      into.set(name, this.node(entry, dir));
      // a writable bundle's entries can be removed, and MemFs gives back what each removal frees
      if (this.mount.writable) this.fs.reserve(ENTRY_COST + name.length, true);
    }
    return into;
  }

  private node(entry: BundleEntry, parent: DirNode): Node {
    switch (entry.kind) {
      case 'dir': {
        const dir = this.fs.newDir(parent, !this.mount.writable);
        this.times(dir, entry.mtimeMs);
        this.fillLazily(dir, entry, null);
        return dir;
      }
      case 'file': {
        const known = this.files.get(entry);
        if (known !== undefined) return known;
        const { data } = this.mount;
        const file: FileNode = {
          kind: 'file',
          data: data.subarray(entry.offset, entry.offset + entry.size),
          size: entry.size,
          opens: 0,
          shared: true,
          ...this.fs.meta(!this.mount.writable),
        };
        file.nlink = entry.nlink;
        this.times(file, entry.mtimeMs);
        this.files.set(entry, file);
        return file;
      }
      case 'symlink': {
        const link: Node = { kind: 'symlink', target: entry.target, ...this.fs.meta(!this.mount.writable) };
        this.times(link, entry.mtimeMs);
        return link;
      }
      default: {
        const never: never = entry;
        throw new Error(`unknown bundle entry ${JSON.stringify(never)}`);
      }
    }
  }

  private times(node: Node, mtimeMs: number): void {
    const t = ns(mtimeMs);
    node.atimNs = t;
    node.mtimNs = t;
    node.ctimNs = t;
  }
}

function partsOf(mount: BundleMount): string[] {
  return mount.path.split('/').filter((p) => p !== '');
}

/** Whether `mount` needs a writable root (a writable bundle at `/`): the `MemFs` it goes into is made so. */
export function writableRoot(mount: BundleMount | undefined): boolean {
  return mount !== undefined && mount.writable && partsOf(mount).length === 0;
}

/**
 * Mounts a bundle in a fresh filesystem: at `/` its top-level entries join `/tmp` and `/dev` (the names hayate
 * keeps are not shown); elsewhere its root becomes the directory at `mount.path`, under read-only parents.
 * A writable bundle at `/` needs a `MemFs` made with a writable root (`writableRoot`).
 */
export function mountBundle(fs: MemFs, mount: BundleMount): void {
  const layer = new BundleLayer(fs, mount);
  const parts = partsOf(mount);
  if (parts.length === 0) {
    layer.fillLazily(fs.root, mount.root, RESERVED);
    return;
  }
  let dir = fs.root;
  for (const [i, name] of parts.entries()) {
    const last = i === parts.length - 1;
    const next = fs.newDir(dir, last ? !mount.writable : true);
    dir.entries.set(Buffer.from(name, 'utf8').toString('latin1'), next);
    if (last) layer.fillLazily(next, mount.root, null);
    dir = next;
  }
}
