/**
 * Child processes of `hayate up`: nats-server, the controller and invokers, each its own OS process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HayateError } from '../common/errors';

/** The `hayate` entry script, to start services as `node bin/hayate.js <verb>`. */
export const HAYATE_BIN = join(__dirname, '..', '..', '..', 'bin', 'hayate.js');

/** A free TCP port on loopback (bound and released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Path of the nats-server binary: PATH, then Debian's /usr/sbin. @throws HayateError when missing */
export function natsServerBinary(): string {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/bin', '/usr/bin']) {
    if (dir !== '' && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot start NATS as nats-server is not installed (apt-get install nats-server, or run npm start once)');
}

/** A started child and the line that said it was ready. */
export interface Started {
  child: ChildProcess;
  line: string;
}

/**
 * Spawns a process and waits for a stdout line matching `ready`. Everything else it prints goes to our
 * stderr (our stdout carries only the ready line of `hayate up`).
 * @throws HayateError HAYATE_ERR_UNAVAILABLE when it exits first or does not get ready within timeoutMs
 */
export function spawnUntilReady(command: string, args: string[], ready: RegExp, options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; label: string }): Promise<Started> {
  const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => fail(`did not get ready within ${options.timeoutMs ?? 30_000} ms`), options.timeoutMs ?? 30_000);
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot start ${options.label}: it ${why}`));
    };
    child.once('exit', (code, signal) => fail(`exited with ${signal ?? `code ${code}`}`));
    child.once('error', (err) => fail(`could not be spawned (${err.message})`));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!done && ready.test(line)) {
        done = true;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, line });
      } else {
        process.stderr.write(`[${options.label}] ${line}\n`);
      }
    });
  });
}

/**
 * Sends `signal` and waits for the exit; SIGKILL after `graceMs`.
 * @param graceMs @default 20000
 * @param signal @default 'SIGTERM'
 */
export function stopChild(child: ChildProcess, graceMs = 20_000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
