/** Draws the fleet, functions and activations tables from the live feed's data. */
import { ago, badge, bytes, duration, fill, h } from './dom.js';
import type { ActivationView, Fleet, FunctionView, InvokerView, SpecView, TierView } from './types.js';

/** What a function row can ask the page to do. */
export interface RowActions {
  invoke(fn: string): void;
  chart(fn: string): void;
  remove(fn: string): void;
}

/** The header line: invokers (and how many stale), functions, calls per second. */
export function summary(fleet: Fleet, specs: Map<string, SpecView>): string {
  const stale = fleet.invokers.filter((i) => i.stale).length;
  const rate = fleet.invokers.reduce((sum, i) => sum + i.calls_per_s, 0);
  const invokers = `${fleet.invokers.length} invoker${fleet.invokers.length === 1 ? '' : 's'}${stale > 0 ? ` (${stale} stale)` : ''}`;
  return `${invokers} · ${specs.size} function${specs.size === 1 ? '' : 's'} · ${rate.toFixed(rate < 10 ? 1 : 0)} calls/s`;
}

export function renderFleet(tbody: HTMLElement, fleet: Fleet, now: number): void {
  if (fleet.invokers.length === 0) {
    fill(tbody, [h('tr', {}, h('td', { colspan: 9, class: 'empty' }, 'No invoker has answered yet. Start one: hayate invoker --nats <url>'))]);
    return;
  }
  fill(
    tbody,
    fleet.invokers.map((inv: InvokerView) =>
      h(
        'tr',
        { class: inv.stale ? 'stale' : '', 'data-key': inv.id, 'data-invoker': inv.id, 'data-stale': String(inv.stale) },
        h('td', { title: `${inv.hostname} pid ${inv.id}` }, inv.id),
        h('td', {}, inv.site || '—'),
        h('td', {}, inv.stale ? badge('stale', 'stale') : badge(inv.state)),
        h('td', { class: 'num' }, String(inv.workers)),
        h('td', { class: 'num' }, String(inv.in_flight)),
        h('td', { class: 'num' }, inv.stale ? '—' : inv.calls_per_s.toFixed(1)),
        h('td', {}, inv.container_tier ? badge('available', 'ok') : h('span', { title: inv.container_reason }, badge('off', 'off'), ` ${inv.container_reason}`)),
        h('td', { class: 'num' }, bytes(inv.module_cache_bytes)),
        h('td', { class: inv.stale ? 'warn' : 'muted' }, inv.stale ? `no answer since ${ago(inv.last_seen_at, now)}` : 'live'),
      ),
    ),
  );
}

function tierCell(t: TierView): HTMLTableCellElement {
  if (t.invocations === 0) return h('td', { class: 'num muted' }, '—');
  const errors = t.errors > 0 ? h('span', { class: 'warn', title: 'errors' }, `, ${t.errors} failed`) : null;
  return h('td', { class: 'num' }, `${duration(t.p50_us)} / ${duration(t.p99_us)}`, h('div', { class: 'reason' }, `${t.invocations} calls`, errors));
}

function transitionCell(f: FunctionView | null, now: number): HTMLTableCellElement {
  const list = f?.transitions ?? [];
  const last = list[list.length - 1];
  if (f === null || last === undefined) return h('td', { class: 'muted' }, f === null ? 'not loaded on any invoker yet' : '—');
  const all = list.map((x) => `${x.at.slice(11, 19)} ${x.from} → ${x.to}: ${x.reason}`).join('\n');
  return h('td', { class: 'transition', title: all }, h('span', {}, `${last.from} → ${last.to} `), h('span', { class: 'muted' }, ago(last.at, now)), h('div', { class: 'reason' }, last.reason));
}

/** Routes the function rows' buttons to `actions` (once per table body: rows are redrawn every second). */
export function wireFunctionButtons(tbody: HTMLElement, actions: RowActions): void {
  tbody.addEventListener('click', (e) => {
    const button = (e.target as HTMLElement).closest('button');
    const fn = button?.closest('tr')?.dataset['fn'];
    if (button === null || fn === undefined) return;
    const act = button.dataset['act'];
    if (act === 'chart') actions.chart(fn);
    if (act === 'invoke') actions.invoke(fn);
    if (act === 'remove') actions.remove(fn);
  });
}

/** One row per function and invoker it is loaded on; a deployed function loaded nowhere gets one row. */
export function renderFunctions(tbody: HTMLElement, fleet: Fleet, specs: Map<string, SpecView>, now: number): void {
  const names = new Set<string>([...specs.keys(), ...fleet.invokers.flatMap((i) => i.functions.map((f) => f.name))]);
  const rows: HTMLTableRowElement[] = [];
  for (const name of [...names].sort()) {
    const spec = specs.get(name);
    const placed = fleet.invokers.filter((i) => !i.stale).flatMap((inv) => inv.functions.filter((f) => f.name === name).map((f) => ({ inv, f })));
    const entries: { inv: InvokerView | null; f: FunctionView | null }[] = placed.length > 0 ? placed : [{ inv: null, f: null }];
    entries.forEach(({ inv, f }, i) => {
      const buttons = h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', class: 'quiet', 'data-act': 'chart' }, 'chart'),
        h('button', { type: 'button', class: 'quiet', 'data-act': 'invoke' }, 'invoke'),
        spec !== undefined ? h('button', { type: 'button', class: 'quiet danger', 'data-act': 'remove' }, 'remove') : null,
      );
      const about = spec === undefined ? 'not deployed (still loaded)' : `v${spec.version} · ${spec.policy ?? 'auto'}${spec.image ? ` · ${spec.image}` : ''}`;
      rows.push(
        h(
          'tr',
          { 'data-key': `${name} ${inv?.id ?? ''}`, 'data-fn': name, 'data-invoker': inv?.id ?? '', 'data-state': f?.state ?? 'cold', class: i > 0 ? 'cont' : '' },
          i === 0 ? h('td', { class: 'fn' }, h('strong', {}, name), h('div', { class: 'reason' }, about), buttons) : h('td', {}),
          h('td', {}, badge(f?.state ?? 'cold'), f !== null && f.in_flight > 0 ? h('span', { class: 'muted' }, ` ${f.in_flight} running`) : null, h('div', { class: 'reason' }, inv?.id ?? 'no invoker')),
          f === null ? h('td', { class: 'num muted' }, '—') : tierCell(f.wasm),
          f === null ? h('td', { class: 'num muted' }, '—') : tierCell(f.container),
          transitionCell(f, now),
        ),
      );
    });
  }
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No function deployed. Drop a .wasm on Deploy.')));
  fill(tbody, rows);
}

/** Recent activations, newest first; each id opens its full record. */
export function renderActivations(tbody: HTMLElement, list: ActivationView[], open: (id: string) => void, now: number): void {
  if (list.length === 0) {
    fill(tbody, [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No async activation yet (invoke with “async”).'))]);
    return;
  }
  fill(
    tbody,
    [...list].reverse().flatMap((a) => {
      const link = h('a', { href: `/v1/activations/${encodeURIComponent(a.id)}`, title: a.id }, ago(a.created_at, now));
      link.addEventListener('click', (e) => {
        e.preventDefault();
        open(a.id);
      });
      const failed = a.state === 'failed' || (a.status !== undefined && a.status !== 'OK');
      const why = a.error !== undefined ? `${a.error.code}: ${a.error.message}` : (a.reason ?? '');
      const stderr = a.stderr ?? '';
      const row = h(
        'tr',
        { 'data-key': a.id, 'data-activation': a.id, class: `${failed ? 'failed' : ''} ${stderr !== '' || why !== '' ? 'has-more' : ''}` },
        h('td', {}, link),
        h('td', {}, a.function),
        h('td', {}, badge(a.state), a.status !== undefined && a.status !== 'OK' ? h('span', { class: 'warn' }, ` ${a.status}`) : null),
        h('td', { class: 'num' }, a.timings_ms !== undefined ? `${a.timings_ms.total.toFixed(1)} ms` : '—', a.tier !== undefined ? h('span', { class: 'muted' }, ` ${a.tier}`) : null),
      );
      if (stderr === '' && why === '') return [row];
      // stderr (or why it failed) on a line of its own under the record, first line shown, the rest on demand
      const more = stderr === '' ? h('span', { class: 'warn' }, why) : h('details', {}, h('summary', {}, stderr.split('\n')[0]?.slice(0, 80) ?? ''), h('pre', {}, stderr));
      return [row, h('tr', { 'data-key': `${a.id} more`, class: `more ${failed ? 'failed' : ''}` }, h('td', { colspan: 4, class: 'stderr' }, more))];
    }),
  );
}
