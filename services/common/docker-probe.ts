/**
 * Whether the container tier can run here: a Docker engine that answers, and the watchdog built. The
 * invoker asks before it enables the tier; the benchmark and the tests ask before they measure or test it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';

/** Where the project's build puts the static watchdog (scripts/build-examples.sh). */
export const DEFAULT_WATCHDOG = join(__dirname, '..', '..', '..', 'build', 'watchdog', 'hayate-watchdog');

/**
 * Connects to Docker and checks that it answers and that the watchdog is built.
 * @returns the client, or the reason the container tier cannot run here
 */
export async function probeDocker(socketPath: string, watchdogPath: string): Promise<{ docker: Docker } | { reason: string }> {
  if (!existsSync(watchdogPath)) return { reason: `watchdog binary ${watchdogPath} is missing (run npm run build)` };
  if (!existsSync(socketPath)) return { reason: `no Docker engine socket at ${socketPath}` };
  const docker = new Docker({ socketPath, timeout: 10_000 });
  try {
    await docker.ping();
    return { docker };
  } catch (err: unknown) {
    return { reason: `Docker engine at ${socketPath} does not answer: ${err instanceof Error ? err.message : String(err)}` };
  }
}
