import { isatty } from 'node:tty';
import pino from 'pino';
import type { Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/** How log lines look: JSON lines, human lines (pino-pretty), or chosen by whether stderr is a terminal. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** True when `value` is a log format name. */
export function isLogFormat(value: unknown): value is LogFormat {
  return LOG_FORMATS.includes(value as LogFormat);
}

/** `auto` becomes `pretty` on a terminal and `json` otherwise (piped, in a file, under CI). */
export function chooseLogFormat(format: LogFormat, isTerminal: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (isTerminal ? 'pretty' : 'json') : format;
}

// The process entry (services/cli/main.ts) sets it from `--log-format` or `HAYATE_LOG_FORMAT` before any
// service makes its logger; services keep calling createLogger with their name and level only.
let processFormat: LogFormat = 'auto';

/** Sets the format of the loggers this process makes from now on (when they do not name one). */
export function setLogFormat(format: LogFormat): void {
  processFormat = format;
}

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
 * @param options.format @default the process's (setLogFormat), itself @default 'auto'
 */
export function createLogger(options: { name: string; level?: string; destination?: number; base?: Record<string, unknown>; format?: LogFormat }): Logger {
  const fd = options.destination ?? 2;
  const terminal = isatty(fd);
  const stream =
    chooseLogFormat(options.format ?? processFormat, terminal) === 'pretty'
      ? // loaded only when used: every CLI call reads the config, few of them log
        (require('pino-pretty') as typeof PinoPretty)({
          destination: fd,
          colorize: terminal,
          translateTime: 'SYS:HH:MM:ss.l',
          singleLine: true,
          ignore: 'pid,hostname,invokerId',
          messageFormat: '{if invokerId}{invokerId} {end}{msg}',
        })
      : pino.destination({ fd, sync: false });
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    stream,
  );
}
