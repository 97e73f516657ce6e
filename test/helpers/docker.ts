import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ImplementationFn, SerialFn, TestFn } from 'ava';
import Docker from 'dockerode';
import { DEFAULT_WATCHDOG, probeDocker } from '../../services/common/docker-probe';

const SOCKET = '/var/run/docker.sock';

/** A Docker client when an engine answers here, else the reason none can (tests skip saying why). */
export async function dockerOrReason(): Promise<{ docker: Docker } | { reason: string }> {
  if (!existsSync(DEFAULT_WATCHDOG)) return { reason: `watchdog not built at ${DEFAULT_WATCHDOG}` };
  return probeDocker(SOCKET, DEFAULT_WATCHDOG);
}

/**
 * Why containers cannot run here, or null when they can: the same checks as `dockerOrReason`, made
 * synchronously (a child process pings the engine) because ava decides skips when tests are declared.
 */
export function dockerMissingReason(): string | null {
  missing ??= { reason: probeSync() };
  return missing.reason;
}

let missing: { reason: string | null } | undefined;

function probeSync(): string | null {
  if (!existsSync(DEFAULT_WATCHDOG)) return `watchdog not built at ${DEFAULT_WATCHDOG}`;
  if (!existsSync(SOCKET)) return `no Docker engine socket at ${SOCKET}`;
  const ping = `require('node:http').get({ socketPath: ${JSON.stringify(SOCKET)}, path: '/_ping', timeout: 5000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', (e) => { process.stderr.write(e.message); process.exit(1); })`;
  const r = spawnSync(process.execPath, ['-e', ping], { timeout: 10_000, encoding: 'utf8' });
  return r.status === 0 ? null : `Docker engine at ${SOCKET} does not answer${r.stderr ? `: ${r.stderr.trim()}` : ''}`;
}

/** Declares one test. */
export type DeclareTest<C> = (title: string, implementation: ImplementationFn<[], C>) => void;

/**
 * Declares container tests: as given when Docker can run here; otherwise skipped visibly, the reason in
 * the title, or failed with the reason under CI=true (CI's setup starts dockerd, so a missing engine is a
 * broken machine there, not a reason to pass).
 * @param declare `test`, `test.serial` (anything with a `skip` of the same shape)
 * @param reason why Docker is missing, null when it is not @default dockerMissingReason()
 */
export function withDocker<C>(declare: TestFn<C> | SerialFn<C>, reason: string | null = dockerMissingReason()): DeclareTest<C> {
  if (reason === null) return (title, implementation) => declare(title, implementation);
  if (process.env['CI'] === 'true') return (title) => declare(title, (t) => t.fail(`Docker is required under CI=true: ${reason}`));
  return (title, implementation) => declare.skip(`${title} (skipped: ${reason})`, implementation);
}

/** Containers hayate started for the given invoker ids. */
export async function containersOf(docker: Docker, invokerIds: string[]): Promise<Docker.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true, filters: { label: ['hayate.function'] } });
  return all.filter((c) => invokerIds.includes(c.Labels['hayate.invoker'] ?? ''));
}
