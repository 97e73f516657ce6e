/**
 * Starts a real embedded cluster (`hayate up`: nats-server, controller, invokers as OS processes) on free
 * loopback ports in a temp folder, and stops it after the test file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { HttpClient } from '../../services/cli/http-client';
import { HAYATE_BIN } from './paths';

export interface ClusterState {
  http: string;
  nats: string;
  invokers: { id: string; pid: number }[];
}

export interface Cluster extends ClusterState {
  dir: string;
  child: ChildProcess;
  client: HttpClient;
  /** A NATS connection for the test (closed by stop). */
  nc: NatsConnection;
  stop(): Promise<void>;
}

/**
 * @param options.invokers invoker processes @default 2
 * @param options.env extra environment of every process
 */
export async function startCluster(options: { invokers?: number; env?: Record<string, string>; args?: string[] } = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-test-'));
  const stateFile = join(dir, 'state.json');
  const child = spawn(process.execPath, [HAYATE_BIN, 'up', '--data', join(dir, 'data'), '--http-port', '0', '--nats-port', '0', '--invokers', String(options.invokers ?? 2), '--state-file', stateFile, ...(options.args ?? [])], {
    env: { ...process.env, HAYATE_LOG_LEVEL: process.env['HAYATE_LOG_LEVEL'] ?? 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hayate up did not get ready in 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`hayate up exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('hayate ready ')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as ClusterState;
  const nc = await connect({ servers: state.nats });
  let stopped: Promise<void> | null = null;
  return {
    ...state,
    dir,
    child,
    nc,
    client: new HttpClient(state.http),
    stop() {
      stopped ??= (async () => {
        await nc.close().catch(() => undefined);
        if (child.exitCode === null) {
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
