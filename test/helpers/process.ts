import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** A process as /proc shows it. */
export interface Proc {
  pid: number;
  ppid: number;
  state: string;
  cmd: string[];
}

/** The processes under `root` (not itself), from /proc. */
export function descendants(root: number): Proc[] {
  const all: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.push({ pid: Number(name), ppid: Number(ppid), state: state ?? '', cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter((s) => s !== '') });
    } catch {
      // gone meanwhile
    }
  }
  const under = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) if (!under.has(p.pid) && under.has(p.ppid)) (under.add(p.pid), (grew = true));
  }
  return all.filter((p) => p.pid !== root && under.has(p.pid));
}

/** Whether a process runs (a zombie does not: it is only waiting for its parent). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether a process sleeps in a read of its stdin, from /proc/PID/syscall ("0 0x0 …" on x86-64: read, fd 0). */
export function readsStdin(pid: number): boolean {
  try {
    const [nr, fd] = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ');
    return nr === '0' && fd === '0x0';
  } catch {
    return false;
  }
}
