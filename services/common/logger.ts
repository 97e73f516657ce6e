import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Fields whose values never reach the log, at the top of a log object or nested up to two levels
 * (`{ request: { spec: { env } } }`): a function's input and output, what it wrote to stdout and stderr,
 * and the environment it gets (deploy-time secrets live there).
 */
export const REDACTED_FIELDS = ['input', 'output', 'body', 'payload', 'stdout', 'stderr', 'env'] as const;

const REDACT_PATHS = [...REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]), 'req.headers.authorization'];

/**
 * The root logger of a process (made once in its `main.ts`, passed down; components take children).
 * The values of `REDACTED_FIELDS` (payloads, stdout, stderr, env) and the Authorization header are
 * replaced by "[redacted]"; a payload logged under another name is not caught, so never log one.
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
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    pino.destination({ fd: options.destination ?? 2, sync: false }),
  );
}
