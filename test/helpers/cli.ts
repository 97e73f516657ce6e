import { spawn } from 'node:child_process';
import { HAYATE_BIN } from './paths';

/**
 * Runs `hayate <args>` with `input` on stdin (closed at once when none); resolves with code and output.
 * @param cwd working folder @default this process's
 */
export function runCli(args: string[], input?: string | Buffer, env: Record<string, string> = {}, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HAYATE_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
