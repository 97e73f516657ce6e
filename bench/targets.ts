/**
 * The targets of issue 12, each met or missed with the measured value and what it is set against, from a
 * run's results.
 */
import type { BenchResults, Row, Target } from './results';

const ms = (us: number): string => `${(us / 1000).toFixed(us < 10_000 ? 3 : 1)} ms`;
const rate = (n: number): string => `${n.toLocaleString('en-US')}/s`;

/** The rows of one task's cold first call in `mode`, and of its cold `docker run`s (the repeated ones when there are). */
function coldOf(rows: Row[], key: string, mode: string): Row | undefined {
  const mine = rows.filter((r) => r.cold && `${r.workload} ${r.size}` === key && r.mode === mode);
  return mode === 'docker-run' ? (mine.find((r) => r.amount > 1 && r.calls > 0) ?? mine[0]) : mine[0];
}

/** Every target of the run; those whose figures were not measured (no Docker, a dimension left out) are left out. */
export function targets(results: BenchResults): Target[] {
  const out: Target[] = [];
  const add = (name: string, goal: string, value: string, floor: string, met: boolean) => out.push({ name, goal, value, floor, met });
  const otherIdle = results.limits.nats_rtt_process_idle_us;
  // a call crosses the invoker's process too: the least a first call after idle can take on this machine
  const toOtherProcess = otherIdle === undefined ? '' : `, to another process: ${ms(otherIdle.p50)}`;
  for (const f of results.dimensions.first_call) {
    const limit = f.transport === 'nats' ? 3000 : 4000;
    add(`first call of a never-seen module over ${f.transport === 'nats' ? '`hayate.v1.call`' : 'HTTP'}, p50 of ${f.samples}`, `≤ ${ms(limit)}`, ms(f.e2e_us.p50), `${ms(f.floor_us)} (NATS round trip + in-process compile and run; a round trip after 10 ms idle alone: ${ms(results.limits.nats_rtt_idle_us.p50)}${toOtherProcess})`, f.samples > 0 && f.e2e_us.p50 <= limit);
  }
  const tasks = [...new Set(results.rows.map((r) => `${r.workload} ${r.size}`))];
  for (const key of tasks) {
    const first = coldOf(results.rows, key, 'hybrid') ?? coldOf(results.rows, key, 'wasm');
    const run = coldOf(results.rows, key, 'docker-run');
    if (first === undefined || run === undefined) continue;
    const x = run.startup_us.p50 / Math.max(1, first.startup_us.p50);
    add(`first call vs cold \`docker run\`, startup step, ${key}`, '≥ 100× faster', `${ms(first.startup_us.p50)}: ${x.toFixed(0)}×`, `docker run create+start ${ms(run.startup_us.p50)}`, x >= 100);
  }
  const trivialRun = coldOf(results.rows, tasks.find((k) => k.startsWith('upper')) ?? '', 'docker-run');
  const natsFirst = results.dimensions.first_call.find((f) => f.transport === 'nats');
  if (trivialRun !== undefined && natsFirst !== undefined && natsFirst.samples > 0) {
    const x = trivialRun.e2e_us.p50 / Math.max(1, natsFirst.e2e_us.p50);
    const asks = otherIdle === undefined ? '' : ` (100× asks ≤ ${ms(trivialRun.e2e_us.p50 / 100)}; a bare round trip to another process after 10 ms idle: ${ms(otherIdle.p50)})`;
    add('first call vs cold `docker run`, end to end, trivial task', '≥ 100× faster', `${ms(natsFirst.e2e_us.p50)}: ${x.toFixed(0)}×`, `docker run ${ms(trivialRun.e2e_us.p50)}${asks}`, x >= 100);
  }
  for (const [transport, goal] of [['nats', 5000], ['http', 2500]] as const) {
    const rows = results.dimensions.concurrency.filter((r) => r.transport === transport);
    if (rows.length === 0) continue;
    const best = rows.reduce((a, b) => (b.calls_per_s > a.calls_per_s ? b : a));
    add(`trivial calls per second over ${transport === 'nats' ? 'NATS (`hayate.v1.call`)' : 'HTTP'}, best concurrency (${best.concurrency})`, `≥ ${rate(goal)}`, rate(best.calls_per_s), `bare nats.js request/reply ${rate(best.floor_calls_per_s)}`, best.calls_per_s >= goal);
    if (transport === 'nats') {
      const per = Object.entries(best.cpu.groups).map(([g, s]) => `${g} ${s.ms_per_call}`).join(', ');
      add(`CPU per trivial call across processes (NATS, concurrency ${best.concurrency})`, '≤ 0.35 ms', `${best.cpu.total.ms_per_call} ms`, `by process (ms): ${per}`, best.cpu.total.ms_per_call <= 0.35);
    }
  }
  const warmContainer = results.modes.find((m) => m.workload === 'upper')?.p50_us.container;
  if (warmContainer !== undefined) {
    const floor = results.limits.floors[`upper ${results.modes.find((m) => m.workload === 'upper')?.size ?? ''}`]?.floor_us ?? 0;
    add('warm container, trivial function, over NATS, p50 (median of rounds)', `≤ ${ms(1500)}`, `${ms(warmContainer.median)} (${ms(warmContainer.min)}–${ms(warmContainer.max)})`, `${ms(floor)} (NATS round trip + in-process WASM)`, warmContainer.median <= 1500);
  }
  for (const m of results.modes) {
    const h = m.p50_us.hybrid;
    const bestMode = m.best_single;
    const best = bestMode === null ? undefined : m.p50_us[bestMode];
    if (h === undefined || bestMode === null || best === undefined) continue;
    // from the short rounds where measured (bench/modes.ts), else the long rounds' medians
    const s = m.short_rounds;
    const hp = s?.p50_us.hybrid ?? h.median;
    const bp = s?.p50_us[bestMode] ?? best.median;
    add(`hybrid ÷ best single tier, warm p50, ${m.workload} ${m.size}`, '≤ 1.05×', `${m.hybrid_vs_best.toFixed(2)}× (${ms(hp)}${s === undefined ? '' : `; 95 % interval ${s.ratio_interval.low.toFixed(2)}–${s.ratio_interval.high.toFixed(2)}, ${s.rounds} short rounds`})`, `${bestMode} ${ms(bp)}`, m.hybrid_vs_best <= 1.05);
  }
  return out;
}

/** The targets as a Markdown table. */
export function targetsTable(list: Target[]): string[] {
  return ['| target | goal | measured | against | |', '| --- | --- | ---: | --- | --- |', ...list.map((t) => `| ${t.name} | ${t.goal} | ${t.value} | ${t.floor} | ${t.met ? 'met' : '**missed**'} |`)];
}
