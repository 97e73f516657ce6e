/**
 * `hayate trigger add|ls|get|rm` and `hayate logs <name> [-f] [--since D] [--json]` (SPEC §6).
 */
import { HayateError } from '../common/errors';
import type { LogEntry } from '../common/log-entries';
import { formatLogEntry } from '../common/log-entries';
import { EventsClient } from './events-client';
import type { Column } from './table';
import { table } from './table';

type Values = Record<string, unknown>;

/** Options of both verbs (parseArgs form); `--url`, `--json`, `--help` come from the client options. */
export const EVENT_VERB_OPTIONS = {
  trigger: {
    function: { type: 'string' },
    subject: { type: 'string' },
    cron: { type: 'string' },
    every: { type: 'string' },
    'result-subject': { type: 'string' },
    concurrency: { type: 'string' },
    'max-age': { type: 'string' },
    arg: { type: 'string', multiple: true },
  },
  logs: {
    follow: { type: 'boolean', short: 'f', default: false },
    since: { type: 'string' },
    limit: { type: 'string' },
  },
} as const;

function str(values: Values, key: string): string | undefined {
  return typeof values[key] === 'string' ? (values[key] as string) : undefined;
}

function sourceOf(t: Record<string, unknown>): string {
  if (t['kind'] === 'subject') return `subject ${String(t['subject'])}`;
  if (t['kind'] === 'cron') return `cron ${String(t['cron'])}`;
  return `every ${String(t['every'])}`;
}

function write(data: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** `hayate trigger <add|ls|get|rm> …` */
export async function triggerVerb(client: EventsClient, values: Values, positionals: string[], json: boolean): Promise<void> {
  const [sub, name] = positionals;
  const needName = (): string => {
    if (name === undefined) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `hayate trigger ${sub ?? ''}: missing trigger name (see hayate trigger --help)`);
    return name;
  };
  switch (sub) {
    case 'add': {
      const body: Record<string, unknown> = { function: str(values, 'function') };
      for (const [flag, key] of [['subject', 'subject'], ['cron', 'cron'], ['every', 'every'], ['result-subject', 'result_subject'], ['max-age', 'max_age']] as const) {
        const v = str(values, flag);
        if (v !== undefined) body[key] = v;
      }
      const concurrency = str(values, 'concurrency');
      if (concurrency !== undefined) body['concurrency'] = Number(concurrency);
      if (Array.isArray(values['arg'])) body['args'] = values['arg'];
      if (body['function'] === undefined) throw new HayateError('HAYATE_ERR_BAD_REQUEST', 'hayate trigger add: --function is required (see hayate trigger --help)');
      const t = await client.putTrigger(needName(), body);
      write(t, json, () => `trigger ${String(t['name'])}: ${sourceOf(t)} → ${String(t['function'])}${t['result_subject'] ? ` → ${String(t['result_subject'])}` : ''} (${String(t['state'])})`);
      return;
    }
    case 'ls': {
      const all = await client.triggers();
      write({ triggers: all }, json, () => {
        const metric = (k: string) => (t: Record<string, unknown>): string => String(((t['metrics'] ?? {}) as Record<string, unknown>)[k] ?? 0);
        const columns: Column<Record<string, unknown>>[] = [
          { header: 'NAME', cell: (t) => String(t['name']) },
          { header: 'FUNCTION', cell: (t) => String(t['function']) },
          { header: 'SOURCE', cell: sourceOf },
          { header: 'STATE', cell: (t) => String(t['state']) },
          ...['received', 'invoked', 'failed', 'dropped', 'lag'].map((k) => ({ header: k.toUpperCase(), cell: metric(k) })),
        ];
        return table(columns, all, '(no triggers)');
      });
      return;
    }
    case 'get':
      write(await client.trigger(needName()), true, () => '');
      return;
    case 'rm':
      await client.removeTrigger(needName());
      write({ removed: name }, json, () => `removed trigger ${name}`);
      return;
    default:
      throw new HayateError('HAYATE_ERR_BAD_REQUEST', `hayate trigger: expected add, ls, get or rm, got ${JSON.stringify(sub ?? '')} (see hayate trigger --help)`);
  }
}

/** `hayate logs <name> [-f] [--since D] [--limit N] [--json]`; with -f it runs until interrupted. */
export async function logsVerb(client: EventsClient, values: Values, positionals: string[], json: boolean): Promise<void> {
  const [fn] = positionals;
  if (fn === undefined) throw new HayateError('HAYATE_ERR_BAD_REQUEST', 'hayate logs: missing function name (see hayate logs --help)');
  const show = (e: LogEntry) => process.stdout.write(`${json ? JSON.stringify(e) : formatLogEntry(e)}\n`);
  const since = str(values, 'since');
  if (values['follow'] === true) {
    await client.followLogs(fn, show, since === undefined ? {} : { since });
    return;
  }
  const limit = str(values, 'limit');
  for (const e of await client.logs(fn, { ...(since !== undefined ? { since } : {}), ...(limit !== undefined ? { limit: Number(limit) } : {}) })) show(e);
}
