/**
 * Processes hayate starts as children (its own services, nats-server): the entry script, the nats-server
 * binary, free loopback ports, and stopping a child.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { HayateError } from './errors';

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
