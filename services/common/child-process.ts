/**
 * Processes hayate starts as children (its own services, nats-server): the entry script, the nats-server
 * binary, free loopback ports, and stopping a child.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { HayateError } from './errors';

/** The `hayate` entry script, to start services as `node bin/hayate.js <verb>`. */
export const HAYATE_BIN = join(__dirname, '..', '..', '..', 'bin', 'hayate.js');

/** Ports handed out by this process: one cluster's ports are taken together, and none may repeat. */
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (outgoing connections take their local port from it). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Listens on `port` (0: any) on loopback and closes at once: the port it got, or null when taken. */
function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : null));
    });
  });
}

/**
 * A free TCP port on loopback (bound and released at once), for a server started next. It is picked at
 * random below the ephemeral range: a port from the range (listen on port 0) could be taken meanwhile as the
 * local port of any outgoing connection on the machine, and a nats-server then failed to start with
 * "address already in use" (CI, under load). Port 0 when 50 tries find none free.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1024, high - 12_000);
  for (let i = 0; i < 50; i += 1) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if ((await tryPort(port)) !== null) {
      handedOut.add(port);
      return port;
    }
  }
  const port = await tryPort(0);
  if (port === null) throw new Error('no free port on 127.0.0.1');
  handedOut.add(port);
  return port;
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
