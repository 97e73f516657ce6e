import { existsSync } from 'node:fs';
import Docker from 'dockerode';
import { DEFAULT_WATCHDOG, probeDocker } from '../../services/invoker/executors/container/container-executor';

/** A Docker client when an engine answers here, else the reason none can (tests skip saying why). */
export async function dockerOrReason(): Promise<{ docker: Docker } | { reason: string }> {
  if (!existsSync(DEFAULT_WATCHDOG)) return { reason: `watchdog not built at ${DEFAULT_WATCHDOG}` };
  return probeDocker('/var/run/docker.sock', DEFAULT_WATCHDOG);
}

/** Containers hayate started for the given invoker ids. */
export async function containersOf(docker: Docker, invokerIds: string[]): Promise<Docker.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true, filters: { label: ['hayate.function'] } });
  return all.filter((c) => invokerIds.includes(c.Labels['hayate.invoker'] ?? ''));
}
