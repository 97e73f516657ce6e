/**
 * Bundles on the host's disk for the container tier: each written once per invoker process, by digest, under
 * `<runtimeDir>/b/<pid>/<digest>`, and bind-mounted read-only into the warm containers that need it. Written
 * to a temporary folder and renamed, so a folder named by a digest is always complete.
 */
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleDir, BundleFile } from '../../../common/bundle-tar';
import type { Bundle } from '../../bundle-cache';
import { alive } from './container-executor';

const SLASH = Buffer.from('/');

/** A byte-string name (as bundle indexes keep them) as a path component. */
function child(dir: Buffer, name: string): Buffer {
  return Buffer.concat([dir, SLASH, Buffer.from(name, 'latin1')]);
}

export class BundleDisk {
  private readonly written = new Map<string, Promise<string>>();
  private readonly dir: string;

  /** @param runtimeDir the invoker's runtime folder (`HAYATE_RUNTIME_DIR`) */
  constructor(private readonly runtimeDir: string) {
    this.dir = join(runtimeDir, 'b', String(process.pid));
  }

  /** Removes the folders that dead invoker processes left. */
  async removeOrphans(): Promise<void> {
    const root = join(this.runtimeDir, 'b');
    const entries = await readdir(root).catch(() => [] as string[]);
    await Promise.all(entries.filter((e) => /^\d+$/.test(e) && !alive(Number(e))).map((e) => rm(join(root, e), { recursive: true, force: true })));
  }

  /**
   * The host folder holding `bundle`'s files, written on first use.
   * @throws Error from the filesystem (a full disk)
   */
  folder(bundle: Bundle): Promise<string> {
    let done = this.written.get(bundle.digest);
    if (done === undefined) {
      done = this.write(bundle);
      this.written.set(bundle.digest, done);
      done.catch(() => this.written.delete(bundle.digest));
    }
    return done;
  }

  /** Removes a bundle's folder (evicted). A container still running keeps its mount until it is removed. */
  remove(digest: string): void {
    if (!this.written.delete(digest)) return;
    void rm(join(this.dir, digest), { recursive: true, force: true }).catch(() => undefined);
  }

  /** Removes every folder of this process. */
  async close(): Promise<void> {
    this.written.clear();
    await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  private async write(bundle: Bundle): Promise<string> {
    const target = join(this.dir, bundle.digest);
    if (existsSync(target)) return target;
    const tmp = `${target}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true, mode: 0o755 });
    await this.writeDir(Buffer.from(tmp), bundle.index.root, bundle.data, new Map());
    await rename(tmp, target);
    return target;
  }

  private async writeDir(at: Buffer, dir: BundleDir, data: Uint8Array, links: Map<BundleFile, Buffer>): Promise<void> {
    for (const [name, entry] of dir.entries) {
      const path = child(at, name);
      switch (entry.kind) {
        case 'dir':
          await mkdir(path, { mode: 0o755 });
          await this.writeDir(path, entry, data, links);
          break;
        case 'file': {
          const first = links.get(entry);
          if (first !== undefined) {
            await link(first, path);
            break;
          }
          await writeFile(path, data.subarray(entry.offset, entry.offset + entry.size));
          // readable by whatever user the image runs as; execute bits kept
          await chmod(path, (entry.mode & 0o555) | 0o444);
          links.set(entry, path);
          break;
        }
        case 'symlink':
          await symlink(Buffer.from(entry.target, 'latin1'), path);
          break;
        default: {
          const never: never = entry;
          throw new Error(`unknown bundle entry ${JSON.stringify(never)}`);
        }
      }
    }
  }
}
