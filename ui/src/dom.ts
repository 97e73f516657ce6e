/** Small DOM and formatting helpers. Text always goes in as textContent: stderr and reasons are untrusted. */

type Attrs = Record<string, string | number | boolean | undefined>;

/** An element with attributes (`class`, `title`, `data-*`, …) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null) el.append(child);
  return el;
}

/** The element with this id. @throws Error when the page lacks it (a page and script out of step) */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page has no #${id}`);
  return el as T;
}

/** Microseconds as the shortest readable duration: 850 µs, 1.23 ms, 2.4 s. */
export function duration(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "4 s ago", "3 min ago" from an ISO time. */
export function ago(iso: string | null, now = Date.now()): string {
  if (iso === null) return '—';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** A coloured word for a state (tier, invoker or activation state). */
export function badge(text: string, kind = text): HTMLSpanElement {
  return h('span', { class: `badge b-${kind}` }, text);
}

/**
 * Puts `rows` in a table body, keeping the rows (by `data-key`) and cells that did not change: the tables
 * are drawn every second, and a button replaced between a press and its release would lose the click.
 */
export function fill(tbody: HTMLElement, rows: HTMLTableRowElement[]): void {
  const old = new Map<string, HTMLTableRowElement>();
  for (const tr of Array.from(tbody.children) as HTMLTableRowElement[]) if (tr.dataset['key'] !== undefined) old.set(tr.dataset['key'], tr);
  const next = rows.map((row) => {
    const prev = row.dataset['key'] === undefined ? undefined : old.get(row.dataset['key']);
    if (prev === undefined || prev.cells.length !== row.cells.length) return row;
    const fresh = Array.from(row.cells);
    Array.from(prev.cells).forEach((cell, i) => {
      const cellNext = fresh[i]!;
      if (cell.outerHTML !== cellNext.outerHTML) cell.replaceWith(cellNext);
    });
    for (const name of prev.getAttributeNames()) if (!row.hasAttribute(name)) prev.removeAttribute(name);
    for (const name of row.getAttributeNames()) prev.setAttribute(name, row.getAttribute(name) ?? '');
    return prev;
  });
  const same = next.length === tbody.children.length && next.every((row, i) => tbody.children[i] === row);
  if (!same) tbody.replaceChildren(...next);
}
