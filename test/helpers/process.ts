import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

/** True while a process with this pid exists (signal 0 probes without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the exit code (or signal) of a child once it exits. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * SIGKILLs a process and resolves once it is gone: a child of ours (waits for its exit event) or any pid
 * (polls until it no longer exists). A process already gone is fine.
 */
export async function killHard(target: ChildProcess | number): Promise<void> {
  if (typeof target !== 'number') {
    const gone = exited(target);
    target.kill('SIGKILL');
    await gone;
    return;
  }
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    return; // already gone
  }
  while (alive(target)) await sleep(20);
}
