/**
 * `hayate up --sites N` as a child process on free loopback ports in a temp folder, with every line its
 * processes log kept (for tests that follow an invocation id through the logs).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HAYATE_BIN } from './paths';

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
  const dir = mkdtempSync(join(tmpdir(), 'hayate-sites-'));
  const stateFile = join(dir, 'state.json');
  const args = [HAYATE_BIN, 'up', '--sites', String(options.sites), '--invokers', String(options.invokers), '--data', join(dir, 'data'), '--http-port', '0', '--state-file', stateFile];
  const child = spawn(process.execPath, args, { env: { ...process.env, HAYATE_LOG_LEVEL: 'warn', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hayate up --sites did not get ready in 90 s:\n${logs.slice(-20).join('\n')}`)), 90_000);
    child.once('exit', (code) => reject(new Error(`hayate up --sites exited with ${code}:\n${logs.slice(-20).join('\n')}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('hayate ready ')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as SitesState;
  let stopped: Promise<void> | null = null;
  return {
    ...state,
    dir,
    child,
    logs,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** SIGKILLs `pid` and resolves once it is gone. */
export async function killHard(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
