/**
 * The bench's Markdown report (targets table, seed-style tables, the dimension sections) and SVG charts,
 * drawn with ECharts' server-side SVG renderer. docs/evaluation.md is written from it: its sections carry
 * over as they are (targets, modes in rounds, dimensions) with the run's JSON and charts beside them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts';
import { dimensionSections, ms } from './report-dims';
import type { BenchResults, Row } from './results';
import { targetsTable } from './targets';
const MODES = ['hybrid', 'wasm', 'container', 'docker-run'];

function svg(option: echarts.EChartsOption, width = 900, height = 420): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  chart.setOption({ animation: false, backgroundColor: '#fff', ...option });
  const out = chart.renderToSVGString();
  chart.dispose();
  return out;
}

/** Warm rows compared across modes: the interleaved rounds' pooled rows (sequential, the largest amount otherwise). */
function warmSequential(rows: Row[]): Row[] {
  const pooled = rows.filter((r) => r.round_p50_us !== undefined);
  if (pooled.length > 0) return pooled;
  const max = Math.max(...rows.filter((r) => !r.cold && r.concurrency === 1).map((r) => r.amount), 0);
  return rows.filter((r) => !r.cold && r.concurrency === 1 && r.amount === max);
}

/** Writes report.md and charts/*.svg into `dir`. */
export function writeReport(results: BenchResults, dir: string): void {
  const charts = join(dir, 'charts');
  mkdirSync(charts, { recursive: true });
  const lines: string[] = [];
  lines.push('# hayate bench report', '');
  lines.push(`Machine: ${String(results.machine['cpu'])}, ${String(results.machine['cores'])} cores, ${String(results.machine['memory_gib'])} GiB, Node ${String(results.machine['node'])}, ${String(results.machine['nats_server'])}, Docker ${String(results.machine['docker'])}; ${String(results.machine['date'])}.`, '');
  lines.push(`${results.quick ? 'Quick' : 'Full'} run, ${results.wall_s} s wall clock: ${Object.entries(results.phases_s).map(([k, v]) => `${k} ${v} s`).join(', ')}.`, '');
  lines.push('## Limits measured in the same run', '');
  lines.push(`- bare NATS request round trip (nats.js echo responder): p50 ${ms(results.limits.nats_rtt_us.p50)} ms, p99 ${ms(results.limits.nats_rtt_us.p99)} ms`);
  lines.push(`- the same, each request 10 ms after the previous answer (every process on the way asleep, as before a first call): p50 ${ms(results.limits.nats_rtt_idle_us.p50)} ms, p99 ${ms(results.limits.nats_rtt_idle_us.p99)} ms`);
  const { nats_rtt_process_us: other, nats_rtt_process_idle_us: otherIdle } = results.limits;
  if (other !== undefined && otherIdle !== undefined) lines.push(`- the same to a responder in another process (a bare nats.js client, as an invoker is: one more process to wake): p50 ${ms(other.p50)} ms back to back, ${ms(otherIdle.p50)} ms 10 ms after the previous answer`);
  lines.push(`- bare nats.js request/reply, pipelined (calls in flight → calls/s): ${Object.entries(results.limits.nats_pipelined_per_s).map(([c, n]) => `${c} → ${n}`).join(', ')}`);
  for (const [key, f] of Object.entries(results.limits.floors)) lines.push(`- in-process @wasmer/wasi run, ${key}: p50 ${ms(f.wasm_inprocess_us.p50)} ms, p99 ${ms(f.wasm_inprocess_us.p99)} ms → floor ${ms(f.floor_us)} ms`);
  lines.push('', '## Targets', '', ...targetsTable(results.targets), '');
  lines.push(...dimensionSections(results));
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
  lines.push('## Charts', '', '![steps](charts/steps.svg)', '', '![throughput](charts/throughput.svg)', '', '![payload](charts/payload.svg)', '', '![cold vs warm](charts/cold-warm.svg)', '');
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
  // throughput against concurrency, trivial workload: over NATS and HTTP, and the bare NATS floor
  const conc = results.dimensions.concurrency;
  const levels = [...new Set(conc.map((r) => r.concurrency))].sort((a, b) => a - b);
  const rateAt = (transport: string, c: number) => conc.find((r) => r.transport === transport && r.concurrency === c)?.calls_per_s ?? 0;
  writeFileSync(
    join(charts, 'throughput.svg'),
    svg({
      title: { text: 'Trivial calls per second against concurrency (upper 16 B)' },
      legend: { top: 30 },
      grid: { top: 80 },
      xAxis: { type: 'category', name: 'concurrency', data: levels.map(String) },
      yAxis: { type: 'value', name: 'calls/s' },
      series: [
        { name: 'hayate over NATS', type: 'line', data: levels.map((c) => rateAt('nats', c)) },
        { name: 'hayate over HTTP', type: 'line', data: levels.map((c) => rateAt('http', c)) },
        { name: 'floor: bare nats.js request/reply', type: 'line', lineStyle: { type: 'dashed' }, data: levels.map((c) => results.limits.nats_pipelined_per_s[String(c)] ?? 0) },
      ],
    }),
  );
  // cost against payload size, with its floor
  const pay = results.dimensions.payload;
  writeFileSync(
    join(charts, 'payload.svg'),
    svg({
      title: { text: 'Trivial call e2e p50 against payload size (ms, log scale)' },
      legend: { top: 30 },
      grid: { top: 80 },
      xAxis: { type: 'category', name: 'payload', data: pay.map((r) => r.label) },
      yAxis: { type: 'log', name: 'ms' },
      series: [
        { name: 'hayate over NATS', type: 'line', data: pay.map((r) => Math.max(0.001, r.e2e_us.p50 / 1000)) },
        { name: 'floor: NATS round trip + in-process run', type: 'line', lineStyle: { type: 'dashed' }, data: pay.map((r) => Math.max(0.001, r.floor_us / 1000)) },
      ],
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
