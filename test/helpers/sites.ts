/**
 * `hayate up --sites N` as a child process on free loopback ports in a temp folder, with every line its
 * processes log kept (for tests that follow an invocation id through the logs).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalCluster } from '../../services/common/local-cluster';

export interface InvokerEntry {
  id: string;
  pid: number;
  metrics?: string;
}

/** The state file of `hayate up --sites`. */
export interface SitesState {
  http: string;
  nats: string;
  invokers: InvokerEntry[];
  hub: { domain: string; servers: { name: string; url: string; pid: number }[] };
  sites: { name: string; nats: string; pid: number; invokers: InvokerEntry[] }[];
}

export interface SitesCluster extends SitesState {
  dir: string;
  child: ChildProcess;
  /** stderr lines of `up` and every process it started (JSON pino lines among them). */
  logs: string[];
  /** SIGTERM and wait (SIGKILL after 30 s); removes the temp folder. Idempotent. */
  stop(): Promise<void>;
}

/**
 * @param options.sites edge sites
 * @param options.invokers invokers per site
 * @param options.env extra environment of every process
 */
export async function startSites(options: { sites: number; invokers: number; env?: Record<string, string> }): Promise<SitesCluster> {
  const local = await startLocalCluster({ invokers: options.invokers, env: { HAYATE_LOG_LEVEL: 'warn', ...options.env }, args: ['--sites', String(options.sites)], captureLogs: true });
  const state = JSON.parse(readFileSync(join(local.dir, 'state.json'), 'utf8')) as SitesState;
  return { ...local, ...state };
}
