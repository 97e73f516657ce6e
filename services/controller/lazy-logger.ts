/**
 * Fastify's per-request logger, made only when a route logs. Fastify makes a child logger for every request;
 * with pino's redaction that cost about a tenth of the controller's CPU per invocation (≈60 µs), for a
 * logger most invocations never use (access logs are off: routes log what matters).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';

type LogFn = FastifyBaseLogger['info'];

/** A logger that creates `parent.child(bindings, options)` when it first logs (or is asked for a child). */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions = {}): FastifyBaseLogger {
  let real: FastifyBaseLogger | null = null;
  const get = (): FastifyBaseLogger => (real ??= parent.child(bindings, options));
  // a call at a level that is off makes nothing (pino's isLevelEnabled; a logger without it always logs)
  const enabled = (level: string): boolean => (parent as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) !== false;
  const method = (name: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'): LogFn =>
    ((...args: Parameters<LogFn>) => {
      if (real !== null || enabled(name)) get()[name](...args);
    }) as LogFn;
  return {
    get level() {
      return real?.level ?? parent.level;
    },
    set level(level: string) {
      get().level = level;
    },
    fatal: method('fatal'),
    error: method('error'),
    warn: method('warn'),
    info: method('info'),
    debug: method('debug'),
    trace: method('trace'),
    silent: method('silent'),
    child: (b: Bindings, o?: ChildLoggerOptions) => lazyChildLogger(get(), b, o),
    isLevelEnabled: enabled,
  } as FastifyBaseLogger;
}
