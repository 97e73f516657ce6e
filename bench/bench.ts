/**
 * `hayate bench`: the seed's evaluation as a product feature. For tasks of several sizes and amounts it
 * measures startup, execution and teardown of the hybrid policy, WASM only, containers only and a cold
 * `docker run` per call, next to the limits measured in the same run (raw NATS round trip, raw in-process
 * WASM), and writes JSON, a Markdown report and SVG charts.
 */
import { cpus, freemem, release, totalmem } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import type Docker from 'dockerode';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { InvokeResponse } from '../services/common/codec';
import { InvocationClient } from '../services/common/invocation-client';
import type { LocalCluster } from '../services/common/local-cluster';
import { startLocalCluster } from '../services/common/local-cluster';
import { dockerRun } from './docker-run';
import { natsRoundTrip, wasmInProcess } from './floors';
import { deploy, dockerForBench, exampleModule, functionStatus } from './hayate-api';
import { writeReport } from './report';
import type { Quantiles } from './stats';
import { quantiles, usSince } from './stats';
import type { Workload, WorkloadSize } from './workloads';
import { workloads } from './workloads';

export const Mode = { hybrid: 'hybrid', wasm: 'wasm', container: 'container', dockerRun: 'docker-run' } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

export interface BenchOptions {
  quick: boolean;
  /** Write results JSON here. */
  jsonFile?: string;
  /** Folder of the Markdown report and SVG charts. @default bench-results/<time> */
  reportDir?: string;
  invokers: number;
  /** Progress bar on `io.stderr`. @default true when it is a TTY */
  progress?: boolean;
}

/** Where the benchmark talks: the progress bar and the closing line go to `stderr`. */
export interface BenchIo {
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface Row {
  mode: Mode;
  workload: string;
  size: string;
  amount: number;
  concurrency: number;
  cold: boolean;
  calls: number;
  errors: number;
  startup_us: Quantiles;
  exec_us: Quantiles;
  teardown_us: Quantiles;
  e2e_us: Quantiles;
  throughput_per_s: number;
  /** e2e p50 ÷ floor p50 (NATS round trip + in-process WASM of the same task). */
  ratio_to_floor: number;
  /** Share of calls each tier served. */
  tiers: Record<string, number>;
}

export interface BenchResults {
  machine: Record<string, unknown>;
  limits: { nats_rtt_us: Quantiles; wasm_inprocess_us: Quantiles; floors: Record<string, { wasm_inprocess_us: Quantiles; floor_us: number }> };
  rows: Row[];
  notes: string[];
}

interface Samples {
  startup: number[];
  exec: number[];
  teardown: number[];
  e2e: number[];
  tiers: string[];
  errors: number;
}

interface Plan {
  /** Warm-up of each mode before its warm cells: at most this many calls, and this long. */
  warmupCalls: number;
  warmupMs: number;
  sequential: number[];
  concurrency: number[];
  concurrentCalls: number;
  cellBudgetMs: number;
  dockerRunCalls: number;
}

const plan = (quick: boolean): Plan =>
  quick
    ? { warmupCalls: 100, warmupMs: 600, sequential: [10, 100], concurrency: [8], concurrentCalls: 200, cellBudgetMs: 1200, dockerRunCalls: 2 }
    : { warmupCalls: 300, warmupMs: 2500, sequential: [10, 100, 1000], concurrency: [1, 8, 32], concurrentCalls: 1000, cellBudgetMs: 4000, dockerRunCalls: 10 };

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

/** Makes a module with a unique custom section: same program, new digest, so its first call is cold. */
function uniqueModule(module: Buffer, tag: string): Buffer {
  const name = Buffer.from(`hayate.bench.${tag}`);
  const body = Buffer.concat([Buffer.from([name.length]), name]);
  return Buffer.concat([module, Buffer.from([0, body.length]), body]);
}

class Bench {
  private readonly rows: Row[] = [];
  private readonly notes: string[] = [];
  private bar: SingleBar | null = null;
  private readonly p: Plan;

  constructor(
    private readonly options: BenchOptions,
    private readonly io: BenchIo,
    private readonly cluster: LocalCluster,
    private readonly nc: NatsConnection,
    private readonly client: InvocationClient,
    private readonly docker: Docker | null,
  ) {
    this.p = plan(options.quick);
  }

  private async call(fn: string, size: WorkloadSize): Promise<{ r: InvokeResponse; e2eUs: number }> {
    const t0 = performance.now();
    const { response } = await this.client.call({ function: fn, input: size.input });
    return { r: response, e2eUs: usSince(t0) };
  }

  private row(base: Omit<Row, 'startup_us' | 'exec_us' | 'teardown_us' | 'e2e_us' | 'throughput_per_s' | 'ratio_to_floor' | 'tiers' | 'calls' | 'errors'>, samples: Samples, wallMs: number, floorUs: number): Row {
    const e2e = quantiles(samples.e2e);
    const tiers: Record<string, number> = {};
    for (const t of samples.tiers) tiers[t] = (tiers[t] ?? 0) + 1 / samples.tiers.length;
    const row: Row = {
      ...base,
      calls: samples.e2e.length,
      errors: samples.errors,
      startup_us: quantiles(samples.startup),
      exec_us: quantiles(samples.exec),
      teardown_us: quantiles(samples.teardown),
      e2e_us: e2e,
      throughput_per_s: wallMs > 0 ? Math.round((samples.e2e.length / wallMs) * 1000) : 0,
      ratio_to_floor: floorUs > 0 ? Number((e2e.p50 / floorUs).toFixed(2)) : 0,
      tiers: Object.fromEntries(Object.entries(tiers).map(([k, v]) => [k, Number(v.toFixed(3))])),
    };
    this.rows.push(row);
    this.bar?.increment();
    return row;
  }

  /** `amount` calls by `concurrency` callers (or fewer when the cell's time budget runs out). */
  private async cell(fn: string, size: WorkloadSize, amount: number, concurrency: number) {
    const samples: Samples = { startup: [], exec: [], teardown: [], e2e: [], tiers: [], errors: 0 };
    const deadline = performance.now() + this.p.cellBudgetMs;
    let issued = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (issued < amount && (issued < Math.min(amount, 5) || performance.now() < deadline)) {
        issued += 1;
        const { r, e2eUs } = await this.call(fn, size);
        if (r.status !== 'OK') samples.errors += 1;
        samples.startup.push(r.timings.startupUs);
        samples.exec.push(r.timings.execUs);
        samples.teardown.push(r.timings.teardownUs);
        samples.e2e.push(e2eUs);
        samples.tiers.push(r.tier);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { samples, wallMs: performance.now() - t0 };
  }

  /** Calls a hybrid function until its tier choice has settled (container warmed and measured, or retired). */
  private async settle(fn: string, size: WorkloadSize): Promise<void> {
    const deadline = Date.now() + (this.options.quick ? 5000 : 15_000);
    for (let i = 0; Date.now() < deadline; i += 1) {
      await this.call(fn, size);
      if (i % 10 !== 9) continue;
      const state = await functionStatus(this.cluster.http, fn);
      if (state === undefined) continue;
      const measured = state.container.invocations >= 5;
      if ((state.state === 'container' && measured) || (state.state === 'wasm' && measured)) return;
    }
    this.notes.push(`${fn}: hybrid tier choice had not settled when measuring began`);
  }

  async run(): Promise<BenchResults> {
    const list = workloads(this.options.quick);
    const modes: Mode[] = this.docker !== null ? [Mode.hybrid, Mode.wasm, Mode.container] : [Mode.wasm];
    if (this.docker === null) this.notes.push('No Docker engine: container, hybrid and docker-run modes were not measured.');
    const sizes = list.reduce((n, w) => n + w.sizes.length, 0);
    const cellsPerMode = 1 + this.p.sequential.length + this.p.concurrency.length;
    const total = sizes * (modes.length * cellsPerMode + (this.docker !== null ? 2 : 0));
    if (this.options.progress ?? this.io.stderr.isTTY === true) {
      this.bar = new SingleBar({ format: 'hayate bench [{bar}] {percentage}% | {value}/{total} cells | {task}', stream: this.io.stderr, hideCursor: true });
      this.bar.start(total, 0, { task: 'floors' });
    }
    const natsRtt = await natsRoundTrip(this.nc, this.options.quick ? 1000 : 5000);
    const floors: BenchResults['limits']['floors'] = {};
    let trivialWasm: Quantiles = { p50: 0, p99: 0 };
    for (const w of list) {
      for (const [si, size] of w.sizes.entries()) {
        const key = `${w.name} ${size.label}`;
        this.bar?.update({ task: `${key}: in-process floor` });
        const inproc = await wasmInProcess(exampleModule(w.example), [w.example, ...size.args], size.input, 500, this.options.quick ? 1000 : 4000);
        if (w.name === 'upper' && si === 0) trivialWasm = inproc;
        const floorUs = natsRtt.p50 + inproc.p50;
        floors[key] = { wasm_inprocess_us: inproc, floor_us: floorUs };
        await this.measureModes(w, si, size, modes, floorUs);
        if (this.docker !== null) await this.measureDockerRun(w, size, floorUs);
      }
    }
    this.bar?.stop();
    return { machine: machine(), limits: { nats_rtt_us: natsRtt, wasm_inprocess_us: trivialWasm, floors }, rows: this.rows, notes: this.notes };
  }

  /**
   * Measures every mode on one task, one mode after the other. Each mode first gets the same warm-up (up to
   * `warmupCalls` calls or `warmupMs`): V8 tiers a module's hot code up from Liftoff to TurboFan in the
   * background, and without it the mode measured first looked up to 1.6× slower on the same code.
   * (Interleaving the modes call by call was tried: the container tier's process churn then lands on the
   * next WASM call and slows every mode.)
   */
  private async measureModes(w: Workload, si: number, size: WorkloadSize, modes: Mode[], floorUs: number): Promise<void> {
    for (const mode of modes) {
      const fn = `b-${w.name}-${si}-${mode}`;
      this.bar?.update({ task: `${w.name} ${size.label} ${mode}` });
      const options: Record<string, string | string[]> = { policy: mode === Mode.hybrid ? 'auto' : mode, arg: size.args, memory_mb: '256' };
      if (mode !== Mode.wasm) options['image'] = `hayate-example/${w.example}:latest`;
      await deploy(this.cluster.http, fn, uniqueModule(exampleModule(w.example), `${fn}-${Date.now()}`), options);
      const base = { mode, workload: w.name, size: size.label };
      const cold = await this.cell(fn, size, 1, 1);
      this.row({ ...base, amount: 1, concurrency: 1, cold: true }, cold.samples, cold.wallMs, floorUs);
      if (mode === Mode.hybrid) await this.settle(fn, size);
      const warmUntil = performance.now() + this.p.warmupMs;
      for (let i = 0; i < this.p.warmupCalls && performance.now() < warmUntil; i += 1) await this.call(fn, size);
      for (const amount of this.p.sequential) {
        const c = await this.cell(fn, size, amount, 1);
        this.row({ ...base, amount, concurrency: 1, cold: false }, c.samples, c.wallMs, floorUs);
      }
      for (const concurrency of this.p.concurrency) {
        const c = await this.cell(fn, size, this.p.concurrentCalls, concurrency);
        this.row({ ...base, amount: this.p.concurrentCalls, concurrency, cold: false }, c.samples, c.wallMs, floorUs);
      }
    }
  }

  private async measureDockerRun(w: Workload, size: WorkloadSize, floorUs: number): Promise<void> {
    const docker = this.docker!;
    this.bar?.update({ task: `${w.name} ${size.label} docker-run` });
    const image = `hayate-example/${w.example}:latest`;
    const base = { mode: Mode.dockerRun, workload: w.name, size: size.label, concurrency: 1 };
    const runs: Samples[] = [];
    const t0 = performance.now();
    for (let i = 0; i < 1 + this.p.dockerRunCalls; i += 1) {
      const r = await dockerRun(docker, image, size.args, size.input);
      runs.push({ startup: [r.startupUs], exec: [r.execUs], teardown: [r.teardownUs], e2e: [r.e2eUs], tiers: ['docker-run'], errors: r.exitCode === 0 ? 0 : 1 });
    }
    const wallMs = performance.now() - t0;
    const merge = (list: typeof runs) => ({ startup: list.flatMap((r) => r.startup), exec: list.flatMap((r) => r.exec), teardown: list.flatMap((r) => r.teardown), e2e: list.flatMap((r) => r.e2e), tiers: list.flatMap((r) => r.tiers), errors: list.reduce((n, r) => n + r.errors, 0) });
    this.row({ ...base, amount: 1, cold: true }, merge(runs.slice(0, 1)), 0, floorUs);
    // every docker run is cold: the "warm" row is the same cold path repeated
    this.row({ ...base, amount: this.p.dockerRunCalls, cold: true }, merge(runs.slice(1)), wallMs, floorUs);
  }
}

/**
 * Runs the whole evaluation on a cluster of its own (`hayate up` processes on free ports); returns the
 * results and writes the JSON (when asked), the Markdown report and the charts.
 */
export async function runBench(options: BenchOptions, io: BenchIo = { stderr: process.stderr }): Promise<BenchResults> {
  const probe = await dockerForBench();
  const docker = 'docker' in probe ? probe.docker : null;
  const cluster = await startLocalCluster({
    invokers: options.invokers,
    // hot after 10 calls within a minute: the hybrid policy settles within the warm-up phase
    env: { HAYATE_HOT_CALLS: '10', HAYATE_HOT_WINDOW_MS: '60000', HAYATE_CONTAINER_IDLE_MS: '600000', HAYATE_LOG_LEVEL: 'warn' },
  });
  const nc = await connect({ servers: cluster.nats });
  const client = new InvocationClient(nc, { defaultTimeoutMs: 60_000 });
  try {
    const results = await new Bench(options, io, cluster, nc, client, docker).run();
    if (!('docker' in probe)) results.notes.push(`Docker: ${probe.reason}`);
    if (options.jsonFile !== undefined) writeFileSync(options.jsonFile, `${JSON.stringify(results, null, 2)}\n`);
    const dir = resolve(options.reportDir ?? join('bench-results', new Date().toISOString().replace(/[:.]/g, '-')));
    mkdirSync(dir, { recursive: true });
    writeReport(results, dir);
    io.stderr.write(`hayate bench: report in ${join(dir, 'report.md')}${options.jsonFile !== undefined ? `, results in ${options.jsonFile}` : ''}\n`);
    return results;
  } finally {
    client.close();
    await nc.close();
    await cluster.stop();
  }
}

