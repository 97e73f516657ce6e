/**
 * Writes a file whole or not at all: to a temporary name beside it, then renamed over it, so that a reader
 * never sees it truncated (`hayate up` rewrites its state file whenever a supervised child restarts, while
 * scripts and tests read it).
 */
import { renameSync, writeFileSync } from 'node:fs';

/** Replaces `path` with `text` atomically (same folder, so the rename stays on one filesystem). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
