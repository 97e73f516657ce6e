/**
 * What `hayate up` says after its ready line (which stays the one line on stdout that scripts parse): where
 * everything runs and three commands to try next. Human lines on stderr when logs are pretty; one log record
 * with the same facts when they are JSON, so a log reader never meets a line that is not JSON.
 */
import type { Logger } from '../common/logger';
import { DEFAULTS } from '../common/config';

/** The facts of a started cluster. */
export interface ReadyInfo {
  http: string;
  nats: string;
  invokers: { id: string; pid: number | undefined }[];
  data: string;
  /** Example functions deployed (empty without --examples). */
  examples: string[];
}

/** The block of human lines (no colour codes: it reads the same in a file). */
export function readyBanner(info: ReadyInfo): string {
  const url = info.http === DEFAULTS.controllerUrl ? '' : ` --url ${info.http}`;
  const first = info.examples.includes('upper') ? `echo hello | hayate invoke upper${url}` : `hayate new hello && cd hello && hayate build && hayate deploy${url}`;
  const rows: [string, string][] = [
    ['HTTP', `${info.http}  (API /v1, operator page /)`],
    ['NATS', info.nats],
    ['invokers', info.invokers.length === 0 ? 'none (start them with hayate invoker --nats URL)' : info.invokers.map((i) => `${i.id} (pid ${String(i.pid)})`).join(', ')],
    ['data', info.data],
    ['examples', info.examples.length === 0 ? 'none (hayate up --examples deploys them)' : info.examples.join(', ')],
  ];
  return [
    '',
    'hayate is up:',
    ...rows.map(([k, v]) => `  ${k.padEnd(9)} ${v}`),
    'try next:',
    `  ${first}`,
    `  hayate ls${url}`,
    `  hayate status${url}`,
    'Ctrl-C stops everything (drains first).',
    '',
  ].join('\n');
}

/**
 * Tells what runs where: the banner on stderr when `pretty`, else one `hayate up ready` log record.
 */
export function announceReady(info: ReadyInfo, pretty: boolean, log: Logger): void {
  if (pretty) process.stderr.write(`${readyBanner(info)}\n`);
  else log.info({ http: info.http, nats: info.nats, invokers: info.invokers.map((i) => i.id), data: info.data, examples: info.examples }, 'hayate up ready');
}
