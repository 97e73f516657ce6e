/**
 * Child processes of `hayate up`: nats-server, the controller and invokers, each its own OS process.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { HayateError } from '../common/errors';

export { freePort, HAYATE_BIN, natsServerBinary, stopChild } from '../common/child-process';

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
