/**
 * The bench's Markdown report (seed-style tables) and SVG charts, drawn with ECharts' server-side SVG
 * renderer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts';
import type { BenchResults, Row } from './bench';

const ms = (us: number): string => (us / 1000).toFixed(us < 10_000 ? 3 : 1);
const MODES = ['hybrid', 'wasm', 'container', 'docker-run'];

function svg(option: echarts.EChartsOption, width = 900, height = 420): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  chart.setOption({ animation: false, backgroundColor: '#fff', ...option });
  const out = chart.renderToSVGString();
  chart.dispose();
  return out;
}

/** Warm rows: sequential, the largest amount measured. */
function warmSequential(rows: Row[]): Row[] {
  const max = Math.max(...rows.filter((r) => !r.cold && r.concurrency === 1).map((r) => r.amount), 0);
  return rows.filter((r) => !r.cold && r.concurrency === 1 && r.amount === max);
}

/** The hybrid-vs-best-single-tier, cold-vs-docker-run, floor and throughput verdicts. */
export function targets(results: BenchResults): string[] {
  const out: string[] = [];
  const warm = warmSequential(results.rows);
  const keys = [...new Set(warm.map((r) => `${r.workload} ${r.size}`))];
  for (const key of keys) {
    const at = (mode: string) => warm.find((r) => `${r.workload} ${r.size}` === key && r.mode === mode);
    const h = at('hybrid');
    const singles = [at('wasm'), at('container')].filter((r): r is Row => r !== undefined);
    if (h === undefined || singles.length === 0) continue;
    const best = Math.min(...singles.map((r) => r.e2e_us.p50));
    const ratio = h.e2e_us.p50 / best;
    out.push(`${ratio <= 1.05 ? 'met' : 'MISSED'}: hybrid warm p50 ${ms(h.e2e_us.p50)} ms is ${ratio.toFixed(2)}× the better single tier (${ms(best)} ms) on ${key} (target ≤ 1.05×)`);
  }
  const cold = (mode: string) => results.rows.filter((r) => r.cold && r.amount === 1 && r.mode === mode && r.workload === 'upper')[0];
  const hc = cold('hybrid') ?? cold('wasm');
  const dr = cold('docker-run');
  if (hc !== undefined && dr !== undefined) {
    const x = dr.e2e_us.p50 / hc.e2e_us.p50;
    out.push(`${x >= 100 ? 'met' : 'MISSED'}: hybrid cold call ${ms(hc.e2e_us.p50)} ms vs cold docker run ${ms(dr.e2e_us.p50)} ms: ${x.toFixed(0)}× faster (target ≥ 100×)`);
  }
  const trivial = warm.find((r) => r.workload === 'upper' && r.mode === 'hybrid') ?? warm.find((r) => r.workload === 'upper' && r.mode === 'wasm');
  if (trivial !== undefined) out.push(`${trivial.ratio_to_floor <= 1.2 ? 'met' : 'MISSED'}: warm trivial call p50 ${ms(trivial.e2e_us.p50)} ms is ${trivial.ratio_to_floor}× the floor (NATS round trip + in-process WASM; target ≤ 1.2×)`);
  const tput = Math.max(0, ...results.rows.filter((r) => r.workload === 'upper' && r.concurrency > 1 && (r.mode === 'hybrid' || r.mode === 'wasm')).map((r) => r.throughput_per_s));
  out.push(`${tput >= 5000 ? 'met' : 'MISSED'}: ${tput} trivial calls/s at best concurrency (target ≥ 5,000/s on this machine)`);
  return out;
}

/** Writes report.md and charts/*.svg into `dir`. */
export function writeReport(results: BenchResults, dir: string): void {
  const charts = join(dir, 'charts');
  mkdirSync(charts, { recursive: true });
  const lines: string[] = [];
  lines.push('# hayate bench report', '');
  lines.push(`Machine: ${String(results.machine['cpu'])}, ${String(results.machine['cores'])} cores, ${String(results.machine['memory_gib'])} GiB, Node ${String(results.machine['node'])}, ${String(results.machine['nats_server'])}, Docker ${String(results.machine['docker'])}; ${String(results.machine['date'])}.`, '');
  lines.push('## Limits measured in the same run', '');
  lines.push(`- bare NATS request round trip (nats.js echo responder): p50 ${ms(results.limits.nats_rtt_us.p50)} ms, p99 ${ms(results.limits.nats_rtt_us.p99)} ms`);
  for (const [key, f] of Object.entries(results.limits.floors)) lines.push(`- in-process @wasmer/wasi run, ${key}: p50 ${ms(f.wasm_inprocess_us.p50)} ms, p99 ${ms(f.wasm_inprocess_us.p99)} ms → floor ${ms(f.floor_us)} ms`);
  lines.push('', '## Targets', '', ...targets(results).map((t) => `- ${t}`), '');
  const keys = [...new Set(results.rows.map((r) => `${r.workload}|${r.size}`))];
  lines.push('## Startup, execution, teardown (p50 / p99, ms)', '');
  lines.push('Each row: calls made (`amount` at `concurrency`); `cold` = the first call of a never-seen module or image. Step times are measured inside the invoker (docker-run: create+start, run, remove at the client); e2e at the caller. Ratio = e2e p50 ÷ floor.', '');
  for (const key of keys) {
    const [workload, size] = key.split('|');
    lines.push(`### ${workload} ${size}`, '');
    lines.push('| mode | amount | conc | cold | startup | exec | teardown | e2e | ×floor | calls/s | tiers |', '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of results.rows.filter((x) => x.workload === workload && x.size === size).sort((a, b) => MODES.indexOf(a.mode) - MODES.indexOf(b.mode))) {
      const q = (x: { p50: number; p99: number }) => `${ms(x.p50)} / ${ms(x.p99)}`;
      const tiers = Object.entries(r.tiers).map(([k, v]) => `${k} ${Math.round(v * 100)}%`).join(', ');
      lines.push(`| ${r.mode} | ${r.calls} | ${r.concurrency} | ${r.cold ? 'yes' : ''} | ${q(r.startup_us)} | ${q(r.exec_us)} | ${q(r.teardown_us)} | ${q(r.e2e_us)} | ${r.ratio_to_floor} | ${r.throughput_per_s || ''} | ${tiers}${r.errors > 0 ? ` (${r.errors} errors)` : ''} |`);
    }
    lines.push('');
  }
  if (results.notes.length > 0) lines.push('## Notes', '', ...results.notes.map((n) => `- ${n}`), '');
  lines.push('## Charts', '', '![steps](charts/steps.svg)', '', '![throughput](charts/throughput.svg)', '', '![cold vs warm](charts/cold-warm.svg)', '');
  writeFileSync(join(dir, 'report.md'), lines.join('\n'));

  // latency per step per mode (warm, sequential), one stacked bar per workload-size and mode
  const warm = warmSequential(results.rows);
  const cats = [...new Set(warm.map((r) => `${r.workload} ${r.size}`))];
  const modes = MODES.filter((m) => warm.some((r) => r.mode === m));
  const steps = ['startup_us', 'exec_us', 'teardown_us'] as const;
  writeFileSync(
    join(charts, 'steps.svg'),
    svg(
      {
        title: { text: 'Warm call: startup / execution / teardown p50 by mode (ms, log scale)' },
        legend: { top: 30 },
        grid: { top: 80, bottom: 90 },
        xAxis: { type: 'category', data: cats.flatMap((c) => modes.map((m) => `${c}\n${m}`)), axisLabel: { rotate: 60, fontSize: 9 } },
        yAxis: { type: 'log', name: 'ms' },
        series: steps.map((s) => ({ name: s.replace('_us', ''), type: 'bar', stack: 'steps', data: cats.flatMap((c) => modes.map((m) => Math.max(0.001, (warm.find((r) => `${r.workload} ${r.size}` === c && r.mode === m)?.[s].p50 ?? 0) / 1000))) })),
      },
      Math.max(900, cats.length * modes.length * 40),
    ),
  );
  // throughput against concurrency, trivial workload
  const conc = results.rows.filter((r) => !r.cold && r.workload === 'upper');
  const levels = [...new Set(conc.map((r) => r.concurrency))].sort((a, b) => a - b);
  writeFileSync(
    join(charts, 'throughput.svg'),
    svg({
      title: { text: 'Throughput against concurrency, upper (calls/s)' },
      legend: { top: 30 },
      grid: { top: 80 },
      xAxis: { type: 'category', name: 'concurrency', data: levels.map(String) },
      yAxis: { type: 'value', name: 'calls/s' },
      series: modes.filter((m) => m !== 'docker-run').map((m) => ({ name: m, type: 'line', data: levels.map((c) => conc.filter((r) => r.mode === m && r.concurrency === c).reduce((best, r) => Math.max(best, r.throughput_per_s), 0)) })),
    }),
  );
  // cold against warm e2e p50
  const coldWarm = cats;
  writeFileSync(
    join(charts, 'cold-warm.svg'),
    svg(
      {
        title: { text: 'Cold first call against warm call, e2e p50 (ms, log scale)' },
        legend: { top: 30 },
        grid: { top: 80, bottom: 90 },
        xAxis: { type: 'category', data: coldWarm.flatMap((c) => modes.map((m) => `${c}\n${m}`)), axisLabel: { rotate: 60, fontSize: 9 } },
        yAxis: { type: 'log', name: 'ms' },
        series: [
          { name: 'cold', type: 'bar', data: coldWarm.flatMap((c) => modes.map((m) => Math.max(0.001, (results.rows.find((r) => r.cold && r.amount === 1 && `${r.workload} ${r.size}` === c && r.mode === m)?.e2e_us.p50 ?? 0) / 1000))) },
          { name: 'warm', type: 'bar', data: coldWarm.flatMap((c) => modes.map((m) => Math.max(0.001, (warm.find((r) => `${r.workload} ${r.size}` === c && r.mode === m)?.e2e_us.p50 ?? 0) / 1000))) },
        ],
      },
      Math.max(900, cats.length * modes.length * 40),
    ),
  );
}
