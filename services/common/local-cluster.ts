/**
 * Runs `hayate up` as a child process on free loopback ports in a temp folder: the real embedded cluster
 * (nats-server, controller, invokers as OS processes), for `hayate bench` and the tests.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HAYATE_BIN, stopChild } from './child-process';

/** The state file `hayate up --state-file` writes. */
export interface LocalClusterState {
  http: string;
  nats: string;
  invokers: { id: string; pid: number }[];
}

export interface LocalCluster extends LocalClusterState {
  dir: string;
  child: ChildProcess;
  /** stderr lines of `up` and every process it started, when asked for with `captureLogs`. */
  logs: string[];
  /** SIGTERM (drain) and wait; SIGKILL after 30 s; removes the temp folder. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `hayate up` and waits for its ready line.
 * @param options.invokers invoker processes @default 2
 * @param options.env extra environment of every process (e.g. HAYATE_HOT_CALLS)
 * @param options.args extra `hayate up` flags (with `--sites`, no `--nats-port` is passed)
 * @param options.captureLogs keep the stderr lines of every process in `logs` instead of passing them on
 * @throws Error when it does not get ready within 90 s
 */
export async function startLocalCluster(options: { invokers?: number; env?: Record<string, string>; args?: string[]; captureLogs?: boolean } = {}): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-'));
  const stateFile = join(dir, 'state.json');
  const extra = options.args ?? [];
  const natsPort = extra.includes('--sites') ? [] : ['--nats-port', '0'];
  const child = spawn(process.execPath, [HAYATE_BIN, 'up', '--data', join(dir, 'data'), '--http-port', '0', ...natsPort, '--invokers', String(options.invokers ?? 2), '--state-file', stateFile, ...extra], {
    env: { ...process.env, HAYATE_LOG_LEVEL: process.env['HAYATE_LOG_LEVEL'] ?? 'warn', ...options.env },
    stdio: ['ignore', 'pipe', options.captureLogs === true ? 'pipe' : 'inherit'],
  });
  const logs: string[] = [];
  if (child.stderr !== null) createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
  // the last lines, and before them the errors that scrolled past (a child's fatal line, then every other one
  // logging its shutdown)
  const tail = () => {
    const last = logs.slice(-20);
    const errors = logs.slice(0, -20).filter((l) => /"level":(50|60)|^hayate [a-z]+: HAYATE_ERR_/.test(l)).slice(-20);
    return logs.length > 0 ? `:\n${[...errors, ...(errors.length > 0 ? ['…'] : []), ...last].join('\n')}` : '';
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hayate up did not get ready in 90 s${tail()}`)), 90_000);
    child.once('exit', (code) => reject(new Error(`hayate up exited with ${code}${tail()}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('hayate ready ')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LocalClusterState;
  let stopped: Promise<void> | null = null;
  return {
    ...state,
    dir,
    child,
    logs,
    stop() {
      stopped ??= (async () => {
        await stopChild(child, 30_000);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
