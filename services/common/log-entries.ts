/**
 * Log entries of functions (SPEC §4 `<prefix>.v1.logs.<fn>`): JSON objects, one per NATS message, published
 * by invokers and kept for a while by the logs stream. Three kinds:
 *   - `stderr`: one line a run wrote to stderr;
 *   - `summary`: one per finished run — id, status, tier, timings, invoker, attempt;
 *   - `dropped`: how many entries of this function this invoker did not publish (its rate bound).
 * The logs stream (`<PREFIX>_LOGS`, size and age limits) is set up by controllers.
 */
import { DiscardPolicy, nanos, RetentionPolicy, StorageType } from 'nats';
import type { JetStreamManager } from 'nats';
import type { Subjects } from './subjects';

/** Fields every entry has. */
interface EntryBase {
  /** ISO 8601 time the invoker published it. */
  ts: string;
  fn: string;
  invoker: string;
}

export type LogEntry =
  | (EntryBase & { kind: 'stderr'; id: string; attempt: number; line: string })
  | (EntryBase & {
      kind: 'summary';
      id: string;
      attempt: number;
      status: string;
      exit_code: number;
      tier: string;
      cold_start: boolean;
      error?: string;
      timings_ms: { queue: number; startup: number; exec: number; teardown: number; total: number };
    })
  | (EntryBase & { kind: 'dropped'; dropped: number });

/** One line of text for an entry, as `hayate logs` prints it. */
export function formatLogEntry(e: LogEntry): string {
  switch (e.kind) {
    case 'stderr':
      return `${e.ts} ${e.fn} ${e.id} | ${e.line}`;
    case 'summary':
      return `${e.ts} ${e.fn} ${e.id} = ${e.status}${e.error !== undefined ? ` ${e.error}` : ''} exit=${e.exit_code} ${e.tier}${e.cold_start ? ' cold' : ''} total=${e.timings_ms.total}ms exec=${e.timings_ms.exec}ms invoker=${e.invoker} attempt=${e.attempt}`;
    case 'dropped':
      return `${e.ts} ${e.fn} - ! ${e.dropped} log entries dropped by invoker ${e.invoker} (rate bound)`;
    default: {
      const never: never = e;
      return JSON.stringify(never);
    }
  }
}

/** Parses an entry from a message body; null when it is not one. */
export function parseLogEntry(data: Uint8Array): LogEntry | null {
  try {
    const e = JSON.parse(new TextDecoder().decode(data)) as LogEntry;
    return typeof e === 'object' && e !== null && (e.kind === 'stderr' || e.kind === 'summary' || e.kind === 'dropped') ? e : null;
  } catch {
    return null;
  }
}

/**
 * Makes sure the logs stream exists with these limits (creating or updating it). Several processes may call
 * it at once.
 */
export async function ensureLogStream(jsm: JetStreamManager, subjects: Subjects, limits: { maxBytes: number; maxAgeMs: number; replicas: number }): Promise<void> {
  const name = subjects.logsStream();
  const config = {
    name,
    subjects: [subjects.allLogs()],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: limits.replicas,
    max_bytes: limits.maxBytes,
    max_age: nanos(limits.maxAgeMs),
    // recent logs matter more than old ones
    discard: DiscardPolicy.Old,
  };
  const info = await jsm.streams.info(name).catch(() => null);
  if (info === null) {
    await jsm.streams.add(config).catch(async (err: unknown) => {
      // another controller created it meanwhile
      if ((await jsm.streams.info(name).catch(() => null)) === null) throw err;
    });
  } else if (info.config.max_bytes !== config.max_bytes || info.config.max_age !== config.max_age) {
    await jsm.streams.update(name, { ...info.config, max_bytes: config.max_bytes, max_age: config.max_age });
  }
}
