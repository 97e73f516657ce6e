/**
 * Helpers of the bundle tests and bench: tars made in memory, the `files` fixture (test/fixtures/bundles,
 * built for WASM and natively by ./c-fixtures) and its FROM scratch image.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Header } from 'tar-stream';
import { tarFrom } from '../../services/cli/pack-dir';
import { DEFAULT_WATCHDOG } from '../../services/invoker/executors/container/container-executor';
import { buildFixture, buildNativeFixture } from './c-fixtures';

/** One member of a tar made by `tarOf`: a file's bytes, or a header of another type. */
export type Member = { name: string; data: string | Buffer } | (Partial<Header> & { name: string });

/** A tar of `members`, in order. */
export function tarOf(members: Member[]): Promise<Buffer> {
  return tarFrom((tar) => {
    for (const m of members) {
      if ('data' in m) tar.entry({ name: m.name, mode: 0o644 }, m.data);
      else tar.entry(m);
    }
  });
}

/** The `files` fixture as a WASI module. */
export function filesWasm(): Buffer {
  return buildFixture('bundles', 'files');
}

/**
 * Why the container tier cannot be tested here, or null when it can (checked without waiting: ava needs to
 * know before the test runs whether to skip it).
 */
export function containerSkipReason(): string | null {
  if (!existsSync(DEFAULT_WATCHDOG)) return `watchdog not built at ${DEFAULT_WATCHDOG}`;
  try {
    buildNativeFixture('bundles', 'files');
  } catch (err: unknown) {
    return `test/fixtures/bundles/files.c does not build natively (apt-get install -y gcc libc6-dev): ${String(err)}`;
  }
  if (!existsSync('/var/run/docker.sock')) return 'no Docker engine socket at /var/run/docker.sock';
  try {
    execFileSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 10_000 });
    return null;
  } catch {
    return 'the Docker engine does not answer';
  }
}

/** Builds the native `files` fixture into a FROM scratch image (no registry needed); returns its tag. */
export function buildFilesImage(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-files-image-'));
  try {
    copyFileSync(buildNativeFixture('bundles', 'files'), join(dir, 'files'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY files /files\nENTRYPOINT ["/files"]\n');
    execFileSync('docker', ['build', '-q', '--label', 'hayate.test=bundles', '-t', tag, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
    return tag;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
