/**
 * Scale benchmark: sync throughput against the number of invokers (1, 2, 4 on one NATS server) and of edge
 * sites (a 3-server hub with one leaf node per site), and where it saturates on this machine and why.
 *
 *   npm run build:ts && node dist/bench/scale.js [--seconds S] [--concurrency C] [--only single|sites] [--json FILE]
 *
 * Each topology is a real `hayate up` (every server and invoker its own OS process) with the container
 * tier off, so that WASM is what scales. The load comes from this process: `InvocationClient` (what the
 * controller uses, without HTTP) keeping C calls in flight for S seconds per workload, with the clients
 * spread over the sites' leaf nodes. For "why", the CPU time of every process is read from /proc before
 * and after: on a small machine the sum reaches the core count, and the split shows who spent it.
 * Prints a table to stdout (progress on stderr).
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { InvocationClient } from '../services/common/invocation-client';
import { startLocalCluster } from '../services/common/local-cluster';
import type { LocalCluster } from '../services/common/local-cluster';
import { cpuMeter, LOAD_GENERATOR } from './cpu';
import { clusterPids, clusterState, deploy, exampleModule } from './hayate-api';
import { closedLoop, quantiles } from './stats';

/** One topology to measure. */
interface Topology {
  label: string;
  sites: number;
  /** Invokers in total (per site × sites when sites > 0). */
  invokers: number;
}

interface Load {
  label: string;
  fn: string;
  input: Buffer;
  args: string[];
}

/** A result row. */
export interface ScaleRow {
  topology: string;
  sites: number;
  invokers: number;
  workload: string;
  concurrency: number;
  calls: number;
  errors: number;
  callsPerSecond: number;
  p50Us: number;
  p99Us: number;
  /**
   * CPU used over the run, in % of one core, by part; `other` is what the rest of the machine used meanwhile
   * (other programs: a figure taken beside a busy neighbour is not this topology's ceiling).
   */
  cpu: { invokers: number; nats: number; client: number; total: number; other: number };
  /** CPU milliseconds per served call: in the invokers, and in every process of ours. */
  cpuMsPerCall: { invokers: number; total: number };
  /** Calls served per site (when sites > 0), from the answers' invoker ids. */
  perSite: Record<string, number>;
}

const TOPOLOGIES: Topology[] = [
  { label: '1 NATS server', sites: 0, invokers: 1 },
  { label: '1 NATS server', sites: 0, invokers: 2 },
  { label: '1 NATS server', sites: 0, invokers: 4 },
  { label: 'hub (3) + 1 site', sites: 1, invokers: 2 },
  { label: 'hub (3) + 2 sites', sites: 2, invokers: 2 },
  { label: 'hub (3) + 2 sites', sites: 2, invokers: 4 },
];

const LOADS: Load[] = [
  // trivial: what a call costs the platform (bus, protobuf, worker hand-off, WASI set-up)
  { label: 'upper 16 B', fn: 'upper', input: Buffer.from('hello, edge!    '), args: [] },
  // compute-bound, ≈ 8 ms of WASM per call: what the cores can run
  { label: 'primes N=1e6', fn: 'primes', input: Buffer.alloc(0), args: ['1000000'] },
];


const log = (line: string): void => void process.stderr.write(`[scale] ${line}\n`);

/** Keeps `concurrency` calls in flight through `clients` (round robin) for `seconds`. */
async function drive(clients: InvocationClient[], load: Load, concurrency: number, seconds: number, siteOf: (invoker: string) => string) {
  const perSite: Record<string, number> = {};
  const run = await closedLoop(concurrency, { ms: seconds * 1000 }, async (lane) => {
    const { response } = await clients[lane % clients.length]!.call({ function: load.fn, input: load.input, args: load.args });
    if (response.status !== 'OK') return false;
    const site = siteOf(response.invokerId);
    perSite[site] = (perSite[site] ?? 0) + 1;
    return true;
  });
  return { ...run, perSite, elapsedS: run.wallMs / 1000 };
}

async function measure(topology: Topology, concurrency: number, seconds: number): Promise<ScaleRow[]> {
  const perSite = topology.sites > 0 ? topology.invokers / topology.sites : topology.invokers;
  log(`starting ${topology.label} with ${topology.invokers} invoker(s)`);
  const cluster: LocalCluster = await startLocalCluster({ invokers: perSite, args: topology.sites > 0 ? ['--sites', String(topology.sites)] : [], env: { HAYATE_CONTAINERS: 'off', HAYATE_LOG_LEVEL: 'warn' } });
  const connections: NatsConnection[] = [];
  const clients: InvocationClient[] = [];
  try {
    const state = clusterState(cluster);
    for (const load of LOADS) await deploy(cluster.http, load.fn, exampleModule(load.fn), { policy: 'wasm' });
    const siteByInvoker = new Map<string, string>();
    for (const site of state.sites ?? []) for (const inv of site.invokers) siteByInvoker.set(inv.id, site.name);
    // clients enter where users would: at the sites' leaf nodes, or at the one server
    const urls = state.sites !== undefined && state.sites.length > 0 ? state.sites.map((s) => s.nats) : [state.nats];
    for (const url of urls) {
      const nc = await connect({ servers: url });
      connections.push(nc);
      clients.push(new InvocationClient(nc, {}));
    }
    const pids = clusterPids(state);
    const rows: ScaleRow[] = [];
    for (const load of LOADS) {
      // warm every invoker (fetch and compile the module) before measuring
      await drive(clients, load, concurrency, 1, () => '');
      const meter = cpuMeter({ invokers: pids.invokers, nats: pids.nats });
      const run = await drive(clients, load, concurrency, seconds, (id) => siteByInvoker.get(id) ?? '-');
      const use = meter.stop(run.samples.length);
      const pct = (group: string) => use.groups[group]?.percent ?? 0;
      const cpu = { invokers: pct('invokers'), nats: pct('nats'), client: pct(LOAD_GENERATOR), total: use.total.percent, other: use.other_percent };
      const q = quantiles(run.samples);
      const row: ScaleRow = {
        topology: topology.label,
        sites: topology.sites,
        invokers: topology.invokers,
        workload: load.label,
        concurrency,
        calls: run.samples.length,
        errors: run.errors,
        callsPerSecond: Math.round(run.samples.length / run.elapsedS),
        p50Us: q.p50,
        p99Us: q.p99,
        cpu,
        cpuMsPerCall: {
          invokers: Number((use.groups['invokers']?.ms_per_call ?? 0).toFixed(2)),
          total: Number(use.total.ms_per_call.toFixed(2)),
        },
        perSite: topology.sites > 0 ? run.perSite : {},
      };
      log(`${row.topology}, ${row.invokers} invoker(s), ${row.workload}: ${row.callsPerSecond} calls/s, CPU ${cpu.total}%`);
      rows.push(row);
    }
    return rows;
  } finally {
    for (const c of clients) c.close();
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await cluster.stop();
  }
}

function table(rows: ScaleRow[]): string {
  const head = ['topology', 'invokers', 'workload', 'calls/s', 'p50 ms', 'p99 ms', 'err', 'CPU% inv', 'CPU% nats', 'CPU% client', 'CPU% total', 'CPU% other', 'CPU ms/call inv', 'CPU ms/call all', 'served by site'];
  const body = rows.map((r) => [
    r.topology,
    String(r.invokers),
    r.workload,
    String(r.callsPerSecond),
    (r.p50Us / 1000).toFixed(2),
    (r.p99Us / 1000).toFixed(2),
    String(r.errors),
    String(r.cpu.invokers),
    String(r.cpu.nats),
    String(r.cpu.client),
    String(r.cpu.total),
    String(r.cpu.other),
    r.cpuMsPerCall.invokers.toFixed(2),
    r.cpuMsPerCall.total.toFixed(2),
    Object.entries(r.perSite).map(([s, n]) => `${s}:${n}`).join(' ') || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' }, only: { type: 'string' }, json: { type: 'string' } } });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const rows: ScaleRow[] = [];
  const chosen = TOPOLOGIES.filter((t) => values.only === undefined || (values.only === 'sites') === t.sites > 0);
  for (const topology of chosen) rows.push(...(await measure(topology, concurrency, seconds)));
  const cores = availableParallelism();
  process.stdout.write(`hayate scale benchmark: ${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${concurrency} calls in flight, ${seconds} s per row, container tier off\n\n${table(rows)}\n`);
  process.stdout.write(`\nCPU% is of one core (${cores * 100}% = every core busy), over the measured seconds, for all invoker processes (WASM worker threads included), all nats-server processes, and this load generator; "other" is the rest of the machine meanwhile. CPU ms/call: CPU time per served call in the invokers, and in all of our processes (the ceiling is ${cores * 1000} divided by it).\n`);
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify({ cores, concurrency, seconds, rows }, null, 2));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`scale: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
