/**
 * A function's bundle of files (SPEC §2): a tar, read once into an immutable tree whose files are
 * (offset, size) ranges of the tar's own bytes, so every run can see them through views of one buffer
 * without a copy. The controller checks uploads with it; invokers index what they fetch with it.
 *
 * Accepted: regular files, directories, symbolic links whose target is relative and stays inside the
 * bundle, and hard links to an earlier file (ustar, pax and GNU long names, as `tar-stream` reads them).
 * Refused with HAYATE_ERR_INVALID_BUNDLE: anything else (devices, fifos), absolute or `..` paths, names
 * over NAME_MAX or paths over PATH_MAX, and more than `MAX_BUNDLE_ENTRIES` entries.
 */
import { extract } from 'tar-stream';
import type { Header } from 'tar-stream';
import { HayateError } from './errors';

/** Entries one bundle may hold: bounds what indexing it costs. */
export const MAX_BUNDLE_ENTRIES = 100_000;
const NAME_MAX = 255;
const HEADER_BYTES = 512;

/**
 * Names that stay hayate's at the root of a function's filesystem: a bundle mounted at `/` cannot shadow them
 * (its members of these names are not shown, in either tier), and `files_path` cannot lie under them.
 */
export const BUNDLE_RESERVED_ROOT_NAMES = ['tmp', 'dev', 'proc', 'sys', 'hayate', 'hayate-watchdog'] as const;
const PATH_MAX = 4096;

export interface BundleFile {
  kind: 'file';
  /** Names of this file in the bundle (hard links). */
  nlink: number;
  /** Where the file's bytes start in the tar. */
  offset: number;
  size: number;
  mode: number;
  mtimeMs: number;
}

export interface BundleDir {
  kind: 'dir';
  mode: number;
  mtimeMs: number;
  /** By name, as byte strings (latin1: one char per byte of the tar's UTF-8), as the WASI host keeps names. */
  entries: Map<string, BundleEntry>;
}

export interface BundleSymlink {
  kind: 'symlink';
  /** A byte string, as names are. */
  target: string;
  mtimeMs: number;
}

export type BundleEntry = BundleFile | BundleDir | BundleSymlink;

/** A bundle's tree and counts. Plain data: it crosses to worker threads by structured clone, once. */
export interface BundleIndex {
  root: BundleDir;
  files: number;
  entries: number;
  /** Bytes of file contents (hard links counted once). */
  fileBytes: number;
}

/** The byte string (latin1) of a UTF-8 name. */
function bytesOf(name: string): string {
  return Buffer.from(name, 'utf8').toString('latin1');
}

function invalid(why: string): HayateError {
  return new HayateError('HAYATE_ERR_INVALID_BUNDLE', `Cannot accept bundle as ${why}`);
}

/** The components of a member path, with `./`, a leading `/` and empty parts dropped. */
function components(path: string, what: string): string[] {
  if (path.includes('\0')) throw invalid(`${what} ${JSON.stringify(path)} contains NUL`);
  if (path.length > PATH_MAX) throw invalid(`${what} is longer than ${PATH_MAX} bytes`);
  const parts = bytesOf(path).split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (p === '..') throw invalid(`${what} ${JSON.stringify(path)} leaves the bundle (..)`);
    if (p.length > NAME_MAX) throw invalid(`${what} ${JSON.stringify(path)} has a name longer than ${NAME_MAX} bytes`);
  }
  return parts;
}

/** Checks that a symbolic link at `parts` with `target` resolves inside the bundle (lexically). */
function checkLinkTarget(parts: string[], target: string): void {
  if (target === '' || target.startsWith('/')) throw invalid(`symbolic link ${parts.join('/')} points to ${JSON.stringify(target)}: only relative targets inside the bundle are allowed`);
  const depth = [...parts.slice(0, -1)];
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (depth.length === 0) throw invalid(`symbolic link ${parts.join('/')} points to ${JSON.stringify(target)}, outside the bundle`);
      depth.pop();
    } else depth.push(p);
  }
}

function newDir(mode = 0o755, mtimeMs = 0): BundleDir {
  return { kind: 'dir', mode, mtimeMs, entries: new Map() };
}

class TreeBuilder {
  readonly root = newDir();
  files = 0;
  entries = 0;
  fileBytes = 0;

  /** The directory holding `parts`' last component, made on the way as tar does for missing parents. */
  private parentOf(parts: string[], name: string): BundleDir {
    let dir = this.root;
    for (const p of parts.slice(0, -1)) {
      let next = dir.entries.get(p);
      if (next === undefined) {
        next = newDir();
        dir.entries.set(p, next);
      }
      if (next.kind !== 'dir') throw invalid(`${name} lies under ${p}, which is not a directory`);
      dir = next;
    }
    return dir;
  }

  private lookup(parts: string[]): BundleEntry | undefined {
    let node: BundleEntry | undefined = this.root;
    for (const p of parts) node = node?.kind === 'dir' ? node.entries.get(p) : undefined;
    return node;
  }

  add(header: Header, offset: number): void {
    this.entries += 1;
    if (this.entries > MAX_BUNDLE_ENTRIES) throw invalid(`it has more than ${MAX_BUNDLE_ENTRIES} entries`);
    const parts = components(header.name, 'member');
    const mtimeMs = header.mtime instanceof Date ? header.mtime.getTime() : 0;
    const mode = (header.mode ?? 0o644) & 0o777;
    if (parts.length === 0) {
      if (header.type !== 'directory') throw invalid(`member ${JSON.stringify(header.name)} names the bundle's root but is a ${header.type}`);
      Object.assign(this.root, { mode, mtimeMs });
      return;
    }
    const name = parts[parts.length - 1] as string;
    const parent = this.parentOf(parts, header.name);
    let entry: BundleEntry;
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        entry = { kind: 'file', nlink: 1, offset, size: header.size ?? 0, mode, mtimeMs };
        this.files += 1;
        this.fileBytes += entry.size;
        break;
      case 'directory': {
        const existing = parent.entries.get(name);
        if (existing?.kind === 'dir') {
          Object.assign(existing, { mode, mtimeMs });
          return;
        }
        entry = newDir(mode, mtimeMs);
        break;
      }
      case 'symlink':
        checkLinkTarget(parts, header.linkname ?? '');
        entry = { kind: 'symlink', target: bytesOf(header.linkname ?? ''), mtimeMs };
        break;
      case 'link': {
        const target = this.lookup(components(header.linkname ?? '', 'hard link target'));
        if (target?.kind !== 'file') throw invalid(`hard link ${header.name} points to ${JSON.stringify(header.linkname)}, not an earlier file of the bundle`);
        entry = target; // the same object: one node, two names (structured clone keeps it shared)
        target.nlink += 1;
        break;
      }
      default:
        throw invalid(`member ${JSON.stringify(header.name)} is a ${header.type}: only files, directories and links are allowed`);
    }
    // a later member of the same name replaces an earlier one, as tar extracts it
    parent.entries.set(name, entry);
  }
}

/**
 * Reads a tar's headers into a `BundleIndex` (file bytes are not copied: each file is a range of `tar`).
 * @throws HayateError HAYATE_ERR_INVALID_BUNDLE when `tar` is not a tar hayate serves, with the reason
 */
export async function indexBundle(tar: Uint8Array): Promise<BundleIndex> {
  if (tar.byteLength >= 2 && tar[0] === 0x1f && tar[1] === 0x8b) throw invalid('it is gzip-compressed: upload the plain tar');
  const builder = new TreeBuilder();
  const reader = extract();
  reader.end(Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength));
  try {
    for await (const entry of reader) {
      // tar-stream's offset is where the entry's (last) 512-byte header starts; its data follows it
      builder.add(entry.header, entry.offset + HEADER_BYTES);
      entry.resume();
    }
  } catch (err: unknown) {
    if (err instanceof HayateError) throw err;
    throw invalid(`it is not a tar: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { root: builder.root, files: builder.files, entries: builder.entries, fileBytes: builder.fileBytes };
}
