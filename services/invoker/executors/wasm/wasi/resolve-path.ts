/**
 * Path resolution in the in-memory filesystem (`MemFs`): components, `.` and `..`, symbolic links, and the
 * confinement WASI asks of a path relative to a preopened directory.
 */
import { Errno } from './abi';
import type { DirNode, Resolved } from './memfs';

/** Longest name of one path component, and of a whole path (Linux NAME_MAX and PATH_MAX). */
const NAME_MAX = 255;
export const PATH_MAX = 4096;
/** Symbolic links followed while resolving one path before ELOOP (Linux MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * Resolves `path` from `start` in the tree of `root`. Intermediate symbolic links are always followed; the
 * last one only when `followLast` (or the path ends with `/`). As WASI requires, a path is relative to its
 * directory and may not leave it (EPERM for a leading `/`, a `..` above `start`, an absolute link target),
 * except from the root: nothing lies above it, and `/..` is `/` as POSIX has it.
 */
export function resolvePath(root: DirNode, start: DirNode, path: string, followLast: boolean): Resolved | Errno {
  if (path.length === 0) return Errno.NOENT;
  if (path.length > PATH_MAX) return Errno.NAMETOOLONG;
  if (path.startsWith('/')) return Errno.PERM;
  const confined = start !== root;
  const dirOnly = path.endsWith('/');
  let dir = start;
  let depth = 0; // directories below `start`
  let queue = path.split('/').filter((p) => p !== '');
  let links = 0;
  for (let i = 0; ; i += 1) {
    if (queue.length === 0) return { parent: dir.parent, name: '.', node: dir, dirOnly: true };
    const name = queue[i] as string;
    if (name.length > NAME_MAX) return Errno.NAMETOOLONG;
    if (name === '..' && depth === 0 && confined) return Errno.PERM;
    const node = name === '.' ? dir : name === '..' ? dir.parent : dir.entries.get(name);
    const last = i === queue.length - 1;
    if (node?.kind === 'symlink' && (!last || followLast || dirOnly)) {
      links += 1;
      if (links > MAX_SYMLINKS) return Errno.LOOP;
      if (node.target === '') return Errno.NOENT;
      if (node.target.startsWith('/')) {
        if (confined) return Errno.PERM;
        dir = root;
      }
      queue = [...node.target.split('/').filter((p) => p !== ''), ...queue.slice(i + 1)];
      i = -1;
      continue;
    }
    if (last) return { parent: dir, name, node, dirOnly };
    if (node === undefined) return Errno.NOENT;
    if (node.kind !== 'dir') return Errno.NOTDIR;
    if (name === '..') depth = Math.max(0, depth - 1);
    else if (name !== '.') depth += 1;
    dir = node;
  }
}
