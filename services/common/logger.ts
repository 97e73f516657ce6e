import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * The root logger of a process (made once in its `main.ts`, passed down; components take children).
 * Payloads never reach the log: request bodies, outputs, stderr and secrets are redacted.
 * @param options.name service name (`controller`, `invoker`, `cli`)
 * @param options.level pino level @default 'info'
 * @param options.destination file descriptor to write to @default 2 (stderr; stdout belongs to the CLI)
 */
export function createLogger(options: { name: string; level?: string; destination?: number; base?: Record<string, unknown> }): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      redact: { paths: ['input', 'output', 'stderr', 'req.headers.authorization', '*.input', '*.output'], censor: '[redacted]' },
    },
    pino.destination({ fd: options.destination ?? 2, sync: false }),
  );
}
