/**
 * `hayate bench`: the seed's evaluation as a product feature. For tasks of several sizes and amounts it
 * measures startup, execution and teardown of the hybrid policy, WASM only, containers only and a cold
 * `docker run` per call, compares the modes in interleaved rounds, and shows how cost grows with the work:
 * payload size, concurrency, deployed functions and invokers, with CPU per call per process. Every figure
 * sits beside its floor measured in the same run (raw NATS round trip and request rate, raw in-process
 * WASM). Writes JSON, a Markdown report with a targets table, and SVG charts.
 */
import { cpus, freemem, release, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { connect } from 'nats';
import { InvocationClient } from '../services/common/invocation-client';
import { startLocalCluster } from '../services/common/local-cluster';
import type { BenchContext, Plan } from './context';
import { plan } from './context';
import { concurrencyLevels, firstCalls, payloadSizes } from './dimensions';
import { fleet } from './fleet';
import { natsRoundTrip, natsRoundTripAfterIdle, natsRoundTripOtherProcess, wasmInProcess } from './floors';
import { clusterPids, clusterState, dockerForBench, exampleModule } from './hayate-api';
import { invokerScaling } from './invokers';
import { measureDockerRun, measureModes, warmPlatform } from './modes';
import { writeReport } from './report';
import type { BenchResults, Dimensions, ModeComparison, Row } from './results';
import { Mode } from './results';
import type { Quantiles } from './stats';
import { targets } from './targets';
import { workloads } from './workloads';

export type { BenchResults, Row } from './results';
export { Mode } from './results';

export interface BenchOptions {
  quick: boolean;
  /** Write results JSON here. */
  jsonFile?: string;
  /** Folder of the Markdown report and SVG charts. @default bench-results/<time> */
  reportDir?: string;
  invokers: number;
  /** Progress bar on `io.stderr`. @default true when it is a TTY */
  progress?: boolean;
  /** Changes to the plan of `quick` (tests measure a tiny run). */
  plan?: Partial<Plan>;
  /** Only these tasks ("upper 16 B"). @default every task of the plan */
  tasks?: string[];
}

/** Where the benchmark talks: the progress bar and the closing line go to `stderr`. */
export interface BenchIo {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The invokers' module cache bound in the bench's cluster (HAYATE_MODULE_CACHE_MB; the default). */
const MODULE_CACHE_MB = 512;

function machine(): Record<string, unknown> {
  const version = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000 }).trim().split('\n')[0];
    } catch {
      return 'unavailable';
    }
  };
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    free_memory_gib: Math.round(freemem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    nats_server: version('nats-server', ['--version']),
    docker: version('docker', ['version', '--format', '{{.Server.Version}}']),
    date: new Date().toISOString(),
  };
}

/** The seed evaluation per task, the first calls, payload, concurrency and fleet dimensions, on one cluster. */
async function onCluster(ctx: BenchContext, tasks: string[] | undefined) {
  const p = ctx.plan;
  const list = workloads(ctx.quick).map((w) => ({ ...w, sizes: w.sizes.filter((s) => tasks === undefined || tasks.includes(`${w.name} ${s.label}`)) })).filter((w) => w.sizes.length > 0);
  const modes: Mode[] = ctx.docker !== null ? [Mode.hybrid, Mode.wasm, Mode.container] : [Mode.wasm];
  if (ctx.docker === null) ctx.notes.push('No Docker engine: container, hybrid and docker-run modes were not measured.');
  ctx.progress('floors');
  const natsRtt = await natsRoundTrip(ctx.nc, ctx.quick ? 1000 : 5000);
  const natsRttIdle = await natsRoundTripAfterIdle(ctx.nc, ctx.quick ? 30 : 300);
  const natsRttProcess = await natsRoundTripOtherProcess(ctx.nc, ctx.cluster.nats, ctx.quick ? 30 : 300);
  const floors: BenchResults['limits']['floors'] = {};
  const rows: Row[] = [];
  const comparisons: ModeComparison[] = [];
  let trivialWasm: Quantiles = { p50: 0, p99: 0 };
  if (list.length > 0) await warmPlatform(ctx);
  for (const w of list) {
    for (const [si, size] of w.sizes.entries()) {
      const key = `${w.name} ${size.label}`;
      ctx.progress(key, 'in-process floor');
      const inproc = await wasmInProcess(exampleModule(w.example), [w.example, ...size.args], size.input, p.floorCalls, p.floorMs);
      if (w.name === 'upper' && trivialWasm.p50 === 0) trivialWasm = inproc;
      const floorUs = natsRtt.p50 + inproc.p50;
      floors[key] = { wasm_inprocess_us: inproc, floor_us: floorUs };
      const measured = await measureModes(ctx, w, si, size, modes, floorUs);
      rows.push(...measured.rows);
      comparisons.push(measured.comparison);
      if (ctx.docker !== null) rows.push(...(await measureDockerRun(ctx, w, size, floorUs)));
    }
  }
  if (trivialWasm.p50 === 0) trivialWasm = await wasmInProcess(exampleModule('upper'), ['upper'], Buffer.from('hello, edge!    '), p.floorCalls, p.floorMs);
  const trivialFloorUs = natsRtt.p50 + trivialWasm.p50;
  const firstCall = await firstCalls(ctx, natsRtt.p50);
  const payload = await payloadSizes(ctx);
  const concurrency = await concurrencyLevels(ctx);
  const functions = await fleet(ctx, trivialFloorUs, MODULE_CACHE_MB * 2 ** 20);
  const dimensions: Dimensions = { first_call: firstCall, payload, concurrency: concurrency.rows, functions, invokers: [] };
  return {
    limits: { nats_rtt_us: natsRtt, nats_rtt_idle_us: natsRttIdle, nats_rtt_process_us: natsRttProcess.busy, nats_rtt_process_idle_us: natsRttProcess.idle, wasm_inprocess_us: trivialWasm, floors, nats_pipelined_per_s: concurrency.floors },
    rows,
    modes: comparisons,
    dimensions,
  };
}

/**
 * Runs the whole evaluation on clusters of its own (`hayate up` processes on free ports); returns the
 * results and writes the JSON (when asked), the Markdown report and the charts.
 */
export async function runBench(options: BenchOptions, io: BenchIo = { stderr: process.stderr }): Promise<BenchResults> {
  const t0 = performance.now();
  // the output folders are made first: a path that cannot be written fails now, not after a 20-minute run
  const dir = resolve(options.reportDir ?? join('bench-results', new Date().toISOString().replace(/[:.]/g, '-')));
  mkdirSync(dir, { recursive: true });
  if (options.jsonFile !== undefined) mkdirSync(dirname(resolve(options.jsonFile)), { recursive: true });
  const p = { ...plan(options.quick), ...options.plan };
  const probe = await dockerForBench();
  const docker = 'docker' in probe ? probe.docker : null;
  let bar: SingleBar | null = null;
  if (options.progress ?? io.stderr.isTTY === true) {
    bar = new SingleBar({ format: 'hayate bench [{bar}] {percentage}% | {value}/{total} steps | {task}', stream: io.stderr, hideCursor: true });
    // an estimate of the progress calls: per task 2 + modes + docker-run, then the dimensions
    const tasks = workloads(options.quick).reduce((n, w) => n + w.sizes.length, 0);
    bar.start(1 + tasks * 6 + 2 + p.payloads.length + p.levels.length * 3 + p.fleet.length * 2 + 1 + p.invokers.length * (p.invokerRounds + 1), 0, { task: 'starting' });
  }
  // wall time per part of the run, for the report (what a quick run spends its 2 minutes on)
  const phases: Record<string, number> = {};
  let phase = { name: 'cluster start', t: performance.now() };
  const progress = (name: string, detail?: string) => {
    if (name !== phase.name) {
      phases[phase.name] = (phases[phase.name] ?? 0) + (performance.now() - phase.t) / 1000;
      phase = { name, t: performance.now() };
    }
    bar?.increment({ task: detail === undefined ? name : `${name}: ${detail}` });
  };
  const notes: string[] = [];
  if (!('docker' in probe)) notes.push(`Docker: ${probe.reason}`);
  const cluster = await startLocalCluster({
    invokers: options.invokers,
    // hot after 10 calls within a minute: the hybrid policy settles within the warm-up phase
    env: { HAYATE_HOT_CALLS: '10', HAYATE_HOT_WINDOW_MS: '60000', HAYATE_CONTAINER_IDLE_MS: '600000', HAYATE_LOG_LEVEL: 'warn', HAYATE_MODULE_CACHE_MB: String(MODULE_CACHE_MB) },
  });
  const nc = await connect({ servers: cluster.nats });
  // the functions' own timeout (SPEC's default): an invoker keeps each answer for retries until the caller's
  // deadline, counted against its held bytes, so a 60 s deadline made 64 KB calls fill its 256 MiB and be
  // refused OVERLOADED within a minute of the full run
  const client = new InvocationClient(nc, { defaultTimeoutMs: 10_000 });
  let measured: Awaited<ReturnType<typeof onCluster>>;
  try {
    const ctx: BenchContext = { quick: options.quick, plan: p, cluster, nc, client, docker, pids: clusterPids(clusterState(cluster)), notes, progress };
    measured = await onCluster(ctx, options.tasks);
  } finally {
    client.close();
    await nc.close();
    await cluster.stop();
  }
  // after the bench's own cluster is gone: these clusters run side by side
  measured.dimensions.invokers = p.invokers.length > 0 ? await invokerScaling(p, progress) : [];
  progress('report');
  bar?.stop();
  const results: BenchResults = { machine: machine(), wall_s: 0, phases_s: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number(v.toFixed(1))])), quick: options.quick, ...measured, targets: [], notes };
  results.targets = targets(results);
  results.wall_s = Math.round((performance.now() - t0) / 1000);
  if (options.jsonFile !== undefined) writeFileSync(options.jsonFile, `${JSON.stringify(results, null, 2)}\n`);
  writeReport(results, dir);
  io.stderr.write(`hayate bench: report in ${join(dir, 'report.md')}${options.jsonFile !== undefined ? `, results in ${options.jsonFile}` : ''} (${results.wall_s} s)\n`);
  return results;
}
