/**
 * `hayate deploy --files DIR`: a folder as the tar `PUT /v1/bundles` takes (SPEC §2). Files, folders and
 * relative symbolic links, by name order, owned by root; anything else (sockets, fifos, devices) is refused.
 */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pack } from 'tar-stream';
import type { Pack } from 'tar-stream';
import { HayateError } from '../common/errors';

async function add(tar: Pack, root: string, dir: string): Promise<void> {
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const rel = relative(root, path);
    const st = await lstat(path);
    const base = { name: rel, mode: st.mode & 0o777, mtime: st.mtime, uid: 0, gid: 0 };
    if (st.isDirectory()) {
      tar.entry({ ...base, type: 'directory' });
      await add(tar, root, path);
    } else if (st.isFile()) {
      tar.entry({ ...base, type: 'file', size: st.size }, await readFile(path));
    } else if (st.isSymbolicLink()) {
      tar.entry({ ...base, type: 'symlink', linkname: await readlink(path) });
    } else {
      throw new HayateError('HAYATE_ERR_INVALID_BUNDLE', `Cannot pack ${path}: only files, folders and symbolic links go into a bundle`);
    }
  }
}

/**
 * A tar made in memory: `fill` adds the entries.
 * @throws what `fill` throws
 */
export async function tarFrom(fill: (tar: Pack) => Promise<void> | void): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve, reject) => tar.on('end', resolve).on('error', reject));
  await fill(tar);
  tar.finalize();
  await ended;
  return Buffer.concat(chunks);
}

/**
 * Packs the folder `dir` into a tar, in memory.
 * @throws HayateError HAYATE_ERR_INVALID_BUNDLE for an entry that cannot go into a bundle; Error when `dir`
 *   cannot be read
 */
export async function packDir(dir: string): Promise<Buffer> {
  if (!(await lstat(dir)).isDirectory()) throw new HayateError('HAYATE_ERR_INVALID_BUNDLE', `Cannot pack ${dir}: --files takes a folder`);
  return tarFrom((tar) => add(tar, dir, dir));
}
