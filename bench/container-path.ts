/**
 * Where a warm container call spends its time: three paths to the same warm container of the trivial
 * `upper` example, measured in the same run in interleaved rounds (A B C A B C …):
 *   connect       a ping on a new connection (connect, accept, "HYP1" and back, close);
 *   (a) ping      the watchdog's socket round trip without a spawn, on a kept connection: the floor;
 *   (b) watchdog  a call through the watchdog client directly (what the container executor sends);
 *   (c) nats      a call over NATS through a real invoker (`hayate.v1.call.<fn>`, policy container);
 *   nats-echo     a bare NATS request/reply (a responder in this process, on its own connection): the
 *                 floor of (c) is this plus (a);
 *   fresh         (b) with an arg that differs on every call, so the watchdog spawns the program then and
 *                 there (the path of every call before processes were spawned ahead): its startup is the
 *                 spawn time alone.
 * Each figure: p50 and p99 over all calls, and the median of the rounds' medians with its spread. The
 * watchdog's own startup (request read → the program exec'd, or released when it was spawned ahead) and
 * exec times come from (b)'s answers. CPU per call, per path, of the container (its cgroup's cpuacct),
 * the invoker process and this client (less sensitive than latency to the load of a shared machine),
 * and the load average before and after.
 *
 *   npm run build:ts && node dist/bench/container-path.js [--rounds R] [--calls N] [--json FILE]
 *     [--nats URL --http URL]
 *
 * With --nats and --http it measures a cluster that runs already (say, `hayate up --invokers 0` and one
 * `node --cpu-prof bin/hayate.js invoker` to see where the invoker spends its time); else it starts
 * `hayate up` with one invoker.
 *
 * A standalone program: it reaches into the invoker's watchdog client (services/invoker) to call the
 * container's socket directly, which `hayate bench` does not do. Needs Docker and the example images
 * (npm run build:images); prints the reason and exits 1 without them. Prints a table to stdout.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { startLocalCluster } from '../services/common/local-cluster';
import { WatchdogClient, watchdogPing } from '../services/invoker/executors/container/watchdog-client';
import type { WatchdogRequest } from '../services/invoker/executors/container/watchdog-client';
import { containerCpuNs, deploy, dockerForBench, exampleModule } from './hayate-api';
import { quantiles, usSince } from './stats';

const FN = 'upper';
const IMAGE = 'hayate-example/upper:latest';

interface PathFigures {
  path: string;
  calls: number;
  p50Us: number;
  p99Us: number;
  /** Median of the rounds' medians, and the lowest and highest round median. */
  roundMedianUs: number;
  roundSpreadUs: [number, number];
  /** CPU time per call of the container, the invoker process (0: unknown) and this client. */
  cpuPerCallUs: { container: number; invoker: number; client: number };
}

function median(xs: readonly number[]): number {
  return quantiles(xs).p50;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, calls: { type: 'string', default: '60' }, json: { type: 'string' }, nats: { type: 'string' }, http: { type: 'string' } } });
  const rounds = Number(values.rounds);
  const perRound = Number(values.calls);
  const probe = await dockerForBench();
  if (!('docker' in probe)) {
    process.stderr.write(`container-path: cannot run: ${probe.reason}\n`);
    process.exitCode = 1;
    return;
  }
  const running = values.nats !== undefined && values.http !== undefined;
  const cluster = running ? { http: values.http!, nats: values.nats!, stop: async () => undefined } : await startLocalCluster({ invokers: 1, env: { HAYATE_LOG_LEVEL: 'warn' } });
  let nc: NatsConnection | undefined;
  let echo: NatsConnection | undefined;
  try {
    await deploy(cluster.http, FN, exampleModule(FN), { image: IMAGE, policy: 'container' });
    nc = await connect({ servers: cluster.nats });
    echo = await connect({ servers: cluster.nats });
    const echoSubject = `bench.container-path.echo.${process.pid}`;
    echo.subscribe(echoSubject, { callback: (_err, m) => m.respond(m.data) });
    await echo.flush();
    const input = Buffer.from('hello, warm container');
    const expected = input.toString().toUpperCase();
    const viaNats = async (): Promise<void> => {
      const m = await nc!.request(`hayate.v1.call.${FN}`, input, { timeout: 60_000 });
      if (Buffer.from(m.data).toString() !== expected) throw new Error(`nats call answered ${JSON.stringify(Buffer.from(m.data).toString())} (${m.headers?.get('Hayate-Status') ?? '?'})`);
    };
    // starts the container (policy container: the first call waits for it); names the invoker that has it
    const first = await nc.request(`hayate.v1.call.${FN}`, input, { timeout: 60_000 });
    const invokerId = first.headers?.get('Hayate-Invoker') ?? '';
    const { socket, containerId } = await socketOf(probe.docker, invokerId);
    const invokerPid = 'invokers' in cluster ? (cluster.invokers.find((i) => i.id === invokerId)?.pid ?? 0) : 0;
    const cpuNow = (): number[] => [containerCpuNs(containerId), invokerPid > 0 ? processCpuNs(invokerPid) : 0, clientCpuNs()];
    const req: WatchdogRequest = { args: [], env: {}, input, timeoutMs: 10_000, maxOutputBytes: 0, maxStderrBytes: 0 };
    const client = new WatchdogClient(socket);
    const startupUs: number[] = [];
    const execUs: number[] = [];
    const spawnUs: number[] = [];
    let freshCalls = 0;
    const paths: Record<string, () => Promise<void>> = {
      connect: () => watchdogPing(socket),
      ping: () => client.ping(),
      watchdog: async () => {
        const r = await client.call(req);
        if (r.stdout.toString() !== expected) throw new Error(`watchdog call answered ${r.outcome} ${JSON.stringify(r.stdout.toString())}`);
        startupUs.push(r.startupNs / 1000);
        execUs.push(r.execNs / 1000);
      },
      nats: viaNats,
      'nats-echo': async () => {
        await nc!.request(echoSubject, input, { timeout: 60_000 });
      },
      fresh: async () => {
        freshCalls += 1;
        const r = await client.call({ ...req, args: [`fresh-${freshCalls}`] });
        if (r.stdout.toString() !== expected) throw new Error(`fresh watchdog call answered ${r.outcome} ${JSON.stringify(r.stdout.toString())}`);
        spawnUs.push(r.startupNs / 1000);
      },
    };
    // warm every path (handlers forked, pre-spawned processes made, JIT) before measuring
    for (const run of Object.values(paths)) for (let i = 0; i < 50; i += 1) await run();
    startupUs.length = 0;
    execUs.length = 0;
    spawnUs.length = 0;
    const all: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
    const roundMedians: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
    const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, [0, 0, 0]]));
    const loadBefore = loadavg()[0]!;
    for (let r = 0; r < rounds; r += 1) {
      for (const [name, run] of Object.entries(paths)) {
        const samples: number[] = [];
        const cpu0 = cpuNow();
        for (let i = 0; i < perRound; i += 1) {
          const t0 = performance.now();
          await run();
          samples.push(usSince(t0));
        }
        cpuNow().forEach((v, k) => (cpu[name]![k]! += v - cpu0[k]!));
        all[name]!.push(...samples);
        roundMedians[name]!.push(median(samples));
      }
      process.stderr.write(`round ${r + 1}/${rounds}\n`);
    }
    const rows: PathFigures[] = Object.keys(paths).map((name) => {
      const q = quantiles(all[name]!);
      const meds = roundMedians[name]!;
      const perCall = cpu[name]!.map((ns) => Math.round(ns / 1000 / all[name]!.length));
      return { path: name, calls: all[name]!.length, p50Us: q.p50, p99Us: q.p99, roundMedianUs: median(meds), roundSpreadUs: [Math.round(Math.min(...meds)), Math.round(Math.max(...meds))], cpuPerCallUs: { container: perCall[0]!, invoker: perCall[1]!, client: perCall[2]! } };
    });
    const startup = quantiles(startupUs);
    const exec = quantiles(execUs);
    const ms = (us: number) => (us / 1000).toFixed(3);
    process.stdout.write(`warm container of ${FN} (${IMAGE}), ${rounds} rounds × ${perRound} calls per path, interleaved\n`);
    process.stdout.write(`load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after, on ${availableParallelism()} cores\n`);
    process.stdout.write('path       calls   p50 ms   p99 ms   median of round medians ms (spread)   CPU µs/call: container invoker client\n');
    for (const row of rows) {
      const c = row.cpuPerCallUs;
      process.stdout.write(`${row.path.padEnd(9)} ${String(row.calls).padStart(6)} ${ms(row.p50Us).padStart(8)} ${ms(row.p99Us).padStart(8)}   ${`${ms(row.roundMedianUs)} (${ms(row.roundSpreadUs[0])}–${ms(row.roundSpreadUs[1])})`.padEnd(37)} ${String(c.container).padStart(9)} ${invokerPid > 0 ? String(c.invoker).padStart(7) : '      -'} ${String(c.client).padStart(6)}\n`);
    }
    const spawn = quantiles(spawnUs);
    process.stdout.write(`watchdog (b): startup (request read → program running) p50 ${ms(startup.p50)} ms, p99 ${ms(startup.p99)} ms; exec p50 ${ms(exec.p50)} ms, p99 ${ms(exec.p99)} ms\n`);
    process.stdout.write(`spawn alone (fresh: request read → program exec'd): p50 ${ms(spawn.p50)} ms, p99 ${ms(spawn.p99)} ms\n`);
    if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ rounds, perRound, rows, startupUs: startup, execUs: exec, spawnUs: spawn }, null, 2)}\n`);
    client.close();
  } finally {
    await nc?.close();
    await echo?.close();
    await cluster.stop();
  }
}

/** CPU time of a process so far, every thread, from schedstat (nanoseconds, not clock ticks). */
function processCpuNs(pid: number): number {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    // gone
  }
  return ns;
}

function clientCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** The host path of the socket of `invoker`'s warm container of FN (its bind-mounted /hayate folder), and the container's id. */
async function socketOf(docker: import('dockerode'), invoker: string): Promise<{ socket: string; containerId: string }> {
  const list = await docker.listContainers({ filters: { label: [`hayate.function=${FN}`, `hayate.invoker=${invoker}`] } });
  const mine = list[0];
  if (mine === undefined) throw new Error(`no warm container of ${FN} found for invoker ${JSON.stringify(invoker)}`);
  const mount = (await docker.getContainer(mine.Id).inspect()).Mounts.find((m) => m.Destination === '/hayate');
  if (mount === undefined) throw new Error(`container ${mine.Id.slice(0, 12)} has no /hayate mount`);
  return { socket: join(mount.Source, 'sock'), containerId: mine.Id };
}

main().catch((err: unknown) => {
  process.stderr.write(`container-path: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
