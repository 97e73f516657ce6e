/**
 * A function's files in the container tier: the same bundle the WASM tier shows, written once to the host's
 * disk (bundle-disk.ts) and bind-mounted read-only at `files_path`. At `/` (an image's root cannot be
 * replaced) each top-level entry is mounted at its own name, but for the names hayate keeps (`/tmp`, `/dev`…).
 * `files_writable` is refused at deploy for functions with an image: containers see their files read-only.
 */
import type Docker from 'dockerode';
import { BUNDLE_RESERVED_ROOT_NAMES } from '../../../common/bundle-tar';
import type { FunctionSpec } from '../../../common/codec';
import type { BundleCache } from '../../bundle-cache';
import { BundleDisk } from './bundle-disk';

const RESERVED: ReadonlySet<string> = new Set(BUNDLE_RESERVED_ROOT_NAMES);

/** A byte-string name (as bundle indexes keep them) as the UTF-8 text Docker's API takes. */
function text(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

export class ContainerFiles {
  private readonly disk: BundleDisk;

  /**
   * @param bundles the invoker's bundle cache (shared with the WASM tier): a bundle it evicts leaves the disk
   * @param runtimeDir the invoker's runtime folder (`HAYATE_RUNTIME_DIR`)
   */
  constructor(
    private readonly bundles: BundleCache,
    runtimeDir: string,
  ) {
    this.disk = new BundleDisk(runtimeDir);
    bundles.onEvict((digest) => this.disk.remove(digest));
    void this.disk.removeOrphans();
  }

  /**
   * The read-only bind mounts that show `spec`'s files at its `files_path` (none without files).
   * @throws HayateError from fetching the bundle; Error from writing it to disk
   */
  async mounts(spec: FunctionSpec): Promise<Docker.MountSettings[]> {
    if (spec.filesDigest === '') return [];
    const { bundle } = await this.bundles.get(spec.filesDigest);
    const folder = await this.disk.folder(bundle);
    const bind = (source: string, target: string): Docker.MountSettings => ({ Type: 'bind', Source: source, Target: target, ReadOnly: true });
    const path = spec.filesPath || '/';
    if (path !== '/') return [bind(folder, path)];
    return [...bundle.index.root.entries.keys()].filter((n) => !RESERVED.has(n)).map((n) => bind(`${folder}/${text(n)}`, `/${text(n)}`));
  }

  /** Removes this invoker's bundle folders. */
  close(): Promise<void> {
    return this.disk.close();
  }
}
