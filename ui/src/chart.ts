/**
 * The live latency chart: p50 and p99 of one function per tier (WASM, container) over the feed's history,
 * one point per second, a gap where a tier served no call. Drawn with uPlot (loaded as a classic script).
 */
import type uPlotType from 'uplot';
import { duration } from './dom.js';
import type { ChartPoint, TierName } from './types.js';
import { TIERS } from './types.js';

const UPlot = (globalThis as unknown as { uPlot: typeof uPlotType }).uPlot;
/** Points kept on the page; matches the controller's history (5 minutes at 1 s). */
const KEEP = 300;

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export class LatencyChart {
  private points: ChartPoint[] = [];
  private plot: uPlotType | null = null;
  private fn = '';

  constructor(
    private readonly el: HTMLElement,
    private readonly legend: HTMLElement,
  ) {
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(el);
  }

  /** The function shown. */
  get selected(): string {
    return this.fn;
  }

  /** Replaces the history (a new connection's `hello`). */
  reset(points: ChartPoint[]): void {
    this.points = points.slice(-KEEP);
    this.update();
  }

  /** Adds one round's point. */
  add(point: ChartPoint): void {
    this.points.push(point);
    if (this.points.length > KEEP) this.points.shift();
    this.update();
  }

  /** Shows another function. */
  select(fn: string): void {
    if (fn === this.fn) return;
    this.fn = fn;
    this.update();
  }

  /** Redraws from scratch (after a theme change: colours come from CSS). */
  restyle(): void {
    this.plot?.destroy();
    this.plot = null;
    this.update();
  }

  /** The busiest function of the last minute, for a first choice. */
  busiest(): string {
    const calls = new Map<string, number>();
    for (const p of this.points.slice(-60)) {
      for (const [fn, tiers] of Object.entries(p.fns)) calls.set(fn, (calls.get(fn) ?? 0) + (tiers.wasm?.[2] ?? 0) + (tiers.container?.[2] ?? 0));
    }
    return [...calls.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.el.clientWidth), height: Math.max(100, this.el.clientHeight) };
  }

  private update(): void {
    const xs: number[] = [];
    const series: Record<TierName, { p50: (number | null)[]; p99: (number | null)[] }> = { wasm: { p50: [], p99: [] }, container: { p50: [], p99: [] } };
    const counts: Record<TierName, number> = { wasm: 0, container: 0 };
    for (const p of this.points) {
      xs.push(p.t / 1000);
      for (const tier of TIERS) {
        const v = p.fns[this.fn]?.[tier];
        series[tier].p50.push(v === undefined ? null : Math.max(1, v[0]) / 1000);
        series[tier].p99.push(v === undefined ? null : Math.max(1, v[1]) / 1000);
        if (v !== undefined) counts[tier] += 1;
      }
    }
    // what the tests and screen readers read: which function, how many points per tier
    this.el.dataset['fn'] = this.fn;
    this.el.dataset['pointsWasm'] = String(counts.wasm);
    this.el.dataset['pointsContainer'] = String(counts.container);
    this.legend.textContent = this.legendText();
    const data: uPlotType.AlignedData = [xs, series.wasm.p50, series.wasm.p99, series.container.p50, series.container.p99];
    if (this.plot === null) this.plot = this.create(data);
    else this.plot.setData(data);
  }

  private legendText(): string {
    if (this.fn === '') return 'No calls yet: invoke a function and it appears here within a second.';
    const parts: string[] = [];
    for (const tier of TIERS) {
      const last = [...this.points].reverse().find((p) => p.fns[this.fn]?.[tier] !== undefined)?.fns[this.fn]?.[tier];
      if (last !== undefined) parts.push(`${tier}: p50 ${duration(last[0])}, p99 ${duration(last[1])}, ${last[2]} calls/s`);
    }
    return `${this.fn} — ${parts.length > 0 ? parts.join(' · ') : 'no calls in the last 5 minutes'}`;
  }

  private create(data: uPlotType.AlignedData): uPlotType {
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 } };
    const line = (label: string, color: string, dash: boolean): uPlotType.Series => ({ label, stroke: color, width: dash ? 1.25 : 2, ...(dash ? { dash: [5, 4] } : {}), spanGaps: false, points: { size: 4 }, value: (_u, v) => (v === null ? '—' : `${v.toFixed(2)} ms`) });
    const opts: uPlotType.Options = {
      ...this.size(),
      legend: { show: false }, // the page's own key (index.html) and legend line take less room
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { distr: 3, log: 10 } },
      axes: [axis, { ...axis, label: 'ms', size: 56, values: (_u, vals) => vals.map((v) => (v === null ? '' : v < 1 ? v.toPrecision(1) : String(Math.round(v * 10) / 10))) }],
      series: [{}, line('wasm p50', cssVar('--wasm'), false), line('wasm p99', cssVar('--wasm'), true), line('container p50', cssVar('--container'), false), line('container p99', cssVar('--container'), true)],
    };
    return new UPlot(opts, data, this.el);
  }
}
