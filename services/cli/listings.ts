/**
 * Text forms of `hayate ls` and `hayate status` (aligned tables with headers, table.ts; `--json` prints the
 * controller's JSON instead) and of `hayate invoke -v`.
 */
import { Header } from '../common/headers';
import type { HttpInvokeResult } from './http-client';
import { table } from './table';

type Json = Record<string, unknown>;

const text = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));

/** `hayate ls`: one row per deployed function. */
export function formatFunctions(fns: readonly Json[]): string {
  return table(
    [
      { header: 'NAME', cell: (f: Json) => text(f['name']) },
      { header: 'VERSION', cell: (f: Json) => text(f['version']), right: true },
      { header: 'POLICY', cell: (f: Json) => text(f['policy']) },
      { header: 'MEMORY_MB', cell: (f: Json) => text(f['memory_mb']), right: true },
      { header: 'TIMEOUT_MS', cell: (f: Json) => text(f['timeout_ms']), right: true },
      { header: 'DIGEST', cell: (f: Json) => text(f['digest']).slice(0, 12) },
      { header: 'IMAGE', cell: (f: Json) => text(f['image']) },
    ],
    fns,
    '(no functions)',
  );
}

const us = (v: unknown): string => (v === undefined || v === null ? '-' : `${String(v)}us`);

/** `hayate status`: a table of invokers, then one of their functions' tier state and latencies. */
export function formatStatus(s: Json): string {
  const invokers = (s['invokers'] as Json[] | undefined) ?? [];
  if (invokers.length === 0) return 'no invokers answered';
  const invokerTable = table(
    [
      { header: 'INVOKER', cell: (i: Json) => text(i['id']) },
      { header: 'STATE', cell: (i: Json) => text(i['state']) },
      { header: 'SITE', cell: (i: Json) => text(i['site']) },
      { header: 'WORKERS', cell: (i: Json) => text(i['workers']), right: true },
      { header: 'IN_FLIGHT', cell: (i: Json) => text(i['in_flight']), right: true },
      { header: 'INVOCATIONS', cell: (i: Json) => text(i['invocations']), right: true },
      { header: 'CONTAINERS', cell: (i: Json) => (i['container_tier'] === true ? 'yes' : `no (${text(i['container_reason'])})`) },
    ],
    invokers,
  );
  const rows = invokers.flatMap((inv) => ((inv['functions'] as Json[] | undefined) ?? []).map((f) => ({ inv, f, w: (f['wasm'] ?? {}) as Json, c: (f['container'] ?? {}) as Json })));
  type Row = (typeof rows)[number];
  const functionTable = table(
    [
      { header: 'INVOKER', cell: (r: Row) => text(r.inv['id']) },
      { header: 'FUNCTION', cell: (r: Row) => text(r.f['name']) },
      { header: 'TIER', cell: (r: Row) => text(r.f['state']) },
      { header: 'WASM_N', cell: (r: Row) => text(r.w['invocations']), right: true },
      { header: 'WASM_P50', cell: (r: Row) => us(r.w['p50_us']), right: true },
      { header: 'WASM_P99', cell: (r: Row) => us(r.w['p99_us']), right: true },
      { header: 'CONT_N', cell: (r: Row) => text(r.c['invocations']), right: true },
      { header: 'CONT_P50', cell: (r: Row) => us(r.c['p50_us']), right: true },
      { header: 'CONT_P99', cell: (r: Row) => us(r.c['p99_us']), right: true },
      { header: 'LAST_ERROR', cell: (r: Row) => text(r.f['last_error']) },
    ],
    rows,
    '(no functions called yet)',
  );
  return `${invokerTable}\n\n${functionTable}`;
}

const VERBOSE_HEADERS = [Header.tier, Header.invoker, Header.invocationId, Header.exitCode, Header.coldStart, Header.attempt, Header.failoverMs, 'Server-Timing'] as const;

/** `hayate invoke -v`: the answer's status and hayate headers, `curl -v` style (`< Name: value`), for stderr. */
export function verboseInvoke(r: HttpInvokeResult): string {
  const lines = [`< HTTP ${r.status}${r.error === undefined ? '' : ` ${r.error.code}`}`];
  for (const name of VERBOSE_HEADERS) {
    const value = r.headers.get(name);
    if (value !== null) lines.push(`< ${name}: ${value}`);
  }
  return `${lines.join('\n')}\n`;
}
