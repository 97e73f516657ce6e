/**
 * The report's sections on how cost grows with the work (first call, payload size, concurrency, deployed
 * functions, invokers) and on the modes compared in interleaved rounds; every figure beside its floor.
 */
import type { CpuUse } from './cpu';
import type { BenchResults } from './results';
import type { Spread } from './stats';

export const ms = (us: number): string => (us / 1000).toFixed(us < 10_000 ? 3 : 1);
const q = (x: { p50: number; p99: number }) => `${ms(x.p50)} / ${ms(x.p99)}`;
const range = (s: Spread, unit: (n: number) => string) => `${unit(s.median)} (${unit(s.min)}–${unit(s.max)})`;
const MiB = 2 ** 20;

/** "invokers 0.21, nats 0.08, …" ms of CPU per call by process, and the total. */
function cpuCells(cpu: CpuUse, groups: string[]): string[] {
  return [...groups.map((g) => (cpu.groups[g] === undefined ? '' : `${cpu.groups[g]!.ms_per_call.toFixed(3)}`)), cpu.total.ms_per_call.toFixed(3), String(cpu.other_percent)];
}

const CPU_GROUPS = ['invokers', 'nats', 'controller', 'load generator'];
const CPU_HEAD = `${CPU_GROUPS.map((g) => `CPU ${g}`).join(' | ')} | CPU all | other % |`;
const CPU_ALIGN = `${CPU_GROUPS.map(() => '---:').join(' | ')} | ---: | ---: |`;

/** Markdown lines of every dimension section. */
export function dimensionSections(results: BenchResults): string[] {
  const d = results.dimensions;
  const lines: string[] = [];
  if (results.modes.length > 0) {
    const r0 = results.modes[0]!;
    lines.push('## Modes compared in interleaved rounds', '');
    lines.push(`Warm e2e p50 in ms, median of ${r0.rounds} round p50s (min–max), each round up to ${r0.calls_per_round} sequential calls per mode, modes interleaved (A B C, B C A, C A B, then reversed: C B A, A C B, B A C, so that every mode follows every other equally often; 50 ms of pause before each cell). Then the hybrid and the best single tier of those rounds again, alone, in short rounds ("short": A B, B A, …; each cell 5 calls or more, about 40 ms of them in a full run, 20 ms of pause before each): a short round lasts tens of ms where a long one lasts seconds, so drift lands on both alike; each one's figure there is the p50 of all its calls. "hybrid ÷ best" is the ratio of those two, with its 95 % interval in square brackets (batch means: the rounds cut into 8 blocks of consecutive rounds, the ratio taken in each, mean ± t × standard error); rounds go on until that interval is within ±0.02 or 40 s have passed (1.8 s in a quick run); "over long rounds" is the median of per-round ratios of the long rounds, as this table measured it before.`, '');
    lines.push('| task | hybrid | wasm | container | best single tier | short: hybrid / best | hybrid ÷ best | over long rounds |', '| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
    for (const m of results.modes) {
      const cell = (mode: 'hybrid' | 'wasm' | 'container') => (m.p50_us[mode] === undefined ? '' : range(m.p50_us[mode]!, ms));
      const s = m.short_rounds;
      const short = s === undefined || m.best_single === null ? '' : `${ms(s.p50_us.hybrid ?? 0)} / ${ms(s.p50_us[m.best_single] ?? 0)}`;
      const each = s === undefined ? '' : ` [${s.ratio_interval.low.toFixed(2)}–${s.ratio_interval.high.toFixed(2)}] (${s.rounds} rounds of ${s.calls_per_cell})`;
      const vs = m.hybrid_vs_best > 0 ? `${m.hybrid_vs_best.toFixed(2)}×${each}` : '';
      const long = (m.hybrid_vs_best_rounds ?? 0) > 0 ? `${m.hybrid_vs_best_rounds!.toFixed(2)}×` : '';
      lines.push(`| ${m.workload} ${m.size} | ${cell('hybrid')} | ${cell('wasm')} | ${cell('container')} | ${m.best_single ?? ''} | ${short} | ${vs} | ${long} |`);
    }
    lines.push('');
  }
  if (d.first_call.length > 0) {
    lines.push('## First call of a never-seen module', '');
    lines.push('Each sample deploys a fresh name with a module of its own (new digest) and calls it as soon as the deploy returned; before the samples of a transport, calls of another, deployed function warm its path (as on a platform serving other functions). Floor: bare NATS round trip + in-process compile and run of the same module.', '');
    lines.push('| transport | samples | p50 / p99 ms | invoker said cold | floor ms | ×floor |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const f of d.first_call) lines.push(`| ${f.transport === 'nats' ? 'NATS `hayate.v1.call`' : 'HTTP invoke'} | ${f.samples} | ${q(f.e2e_us)} | ${f.cold_calls} | ${ms(f.floor_us)} | ${f.ratio_to_floor} |`);
    lines.push('');
  }
  if (d.payload.length > 0) {
    lines.push('## Payload size', '');
    lines.push('`upper` (trivial: output = input upper-cased), sequential calls over `hayate.v1.call`. Floor: bare NATS round trip with the same payload + in-process run with the same input.', '');
    lines.push('| payload | calls | e2e p50 / p99 ms | calls/s | NATS RTT p50 ms | in-process p50 ms | floor ms | ×floor |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of d.payload) lines.push(`| ${r.label} | ${r.calls} | ${q(r.e2e_us)} | ${r.calls_per_s} | ${ms(r.nats_rtt_us.p50)} | ${ms(r.wasm_inprocess_us.p50)} | ${ms(r.floor_us)} | ${r.ratio_to_floor} |`);
    lines.push('');
  }
  if (d.concurrency.length > 0) {
    lines.push('## Concurrency', '');
    lines.push('Trivial calls (`upper` 16 B) kept in flight by this process, from a warm platform (first 4 × the warm-up of a task, 10 s in a full run, of calls at concurrency 8 over each transport) and after an unmeasured third of the cell at the same concurrency: steady state, not the warm-up of the JIT (bench/warm-up.ts). Floor: bare nats.js request/reply at the same concurrency (echo responder). CPU: ms per call by process over the cell (invokers include their worker threads; the controller only serves HTTP); other % = the rest of the machine meanwhile, in % of one core.', '');
    lines.push(`| transport | concurrency | calls/s | e2e p50 / p99 ms | floor calls/s | ÷floor | ${CPU_HEAD}`, `| --- | ---: | ---: | ---: | ---: | ---: | ${CPU_ALIGN}`);
    for (const r of d.concurrency) lines.push(`| ${r.transport} | ${r.concurrency} | ${r.calls_per_s}${r.errors > 0 ? ` (${r.errors} errors)` : ''} | ${q(r.e2e_us)} | ${r.floor_calls_per_s} | ${r.ratio_to_floor} | ${cpuCells(r.cpu, CPU_GROUPS).join(' | ')} |`);
    lines.push('');
  }
  if (d.functions.length > 0) {
    const f0 = d.functions[0]!;
    lines.push('## Deployed functions called round robin', '');
    lines.push(`N distinct functions (the \`upper\` module made unique per name: own digest, spec and cache entry), deployed ${f0.deploy_concurrency} at a time, then called round robin over \`hayate.v1.call\` with ${f0.concurrency} in flight: first = each function's first call, steady = later rounds. Cold = answers the invoker marked as cold starts. Module cache: \`module_cache_bytes\` of GET /v1/status (sum over invokers), limit ${Math.round(f0.module_cache_bytes.limit / MiB)} MiB. ×floor against the trivial floor.`, '');
    lines.push('| functions | deploy s | first p50 / p99 ms | first ×floor | first cold | steady calls | steady p50 / p99 ms | steady ×floor | steady cold | steady calls/s | cache KiB before → after | errors |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
    for (const r of d.functions) lines.push(`| ${r.functions} | ${(r.deploy_ms / 1000).toFixed(1)} | ${q(r.first.e2e_us)} | ${r.first.ratio_to_floor} | ${r.first.cold_calls} of ${r.first.calls} | ${r.steady.calls} | ${q(r.steady.e2e_us)} | ${r.steady.ratio_to_floor} | ${r.steady.cold_calls} | ${r.steady.calls_per_s} | ${Math.round(r.module_cache_bytes.before / 1024)} → ${Math.round(r.module_cache_bytes.after / 1024)} | ${r.first.errors + r.steady.errors} |`);
    lines.push('');
  }
  if (d.invokers.length > 0) {
    const i0 = d.invokers[0]!;
    lines.push('## Invokers on the node', '');
    lines.push(`One \`hayate up --invokers N\` cluster per N (container tier off), all running side by side, measured in ${i0.calls_per_s.rounds.length} interleaved rounds of trivial calls at concurrency ${i0.concurrency}: median calls/s (min–max). Floor: bare nats.js request/reply at the same concurrency on the same server. CPU from the round with the median rate, ms per call.`, '');
    lines.push(`| invokers | calls/s | ÷ 1 invoker | floor calls/s | ÷floor | e2e p50 / p99 ms | ${CPU_HEAD}`, `| ---: | ---: | ---: | ---: | ---: | ---: | ${CPU_ALIGN}`);
    for (const r of d.invokers) lines.push(`| ${r.invokers} | ${range(r.calls_per_s, String)} | ${r.ratio_to_one} | ${r.floor_calls_per_s} | ${r.ratio_to_floor} | ${ms(r.e2e_p50_us)} / ${ms(r.e2e_p99_us)} | ${cpuCells(r.cpu, CPU_GROUPS).join(' | ')} |`);
    lines.push('');
  }
  return lines;
}
