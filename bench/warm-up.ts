/**
 * Two costs that decide the latency of calls that come now and then, on any machine, and that a busy-loop
 * benchmark hides:
 *
 * - **Warm-up of a fresh cluster.** V8 runs new code in its interpreter and baseline tiers until enough
 *   executions have passed; a fresh controller and invoker serve their first thousands of calls slower.
 *   A cluster started for the purpose (`hayate up`, one invoker, container tier off) gets trivial calls in
 *   windows of a second: over HTTP one at a time (the controller's invoke route), then over NATS with
 *   `--concurrency` in flight. Per window: calls, p50 and CPU ms per call by process.
 * - **A wake-up after idle.** A bare node:http pair (this process and a child server, keep-alive, 16 B echo)
 *   and a bare NATS round trip, each back to back and with `--idle-ms` between one answer and the next
 *   request: p50, and CPU ms per request of the server and of this process. Nothing of hayate runs there.
 * - **A warm hayate after idle.** A cluster warmed with 3,000 calls over each transport, then a call of the
 *   same warm function over HTTP and over NATS (`hayate.v1.call`): 300 back to back on each, then after each
 *   of `--gaps` ms of idle, the gaps and transports interleaved (so even a 0 ms gap follows a call of the other
 *   transport), `--samples` of each: p50. A call that comes now and then pays what a wake-up after idle
 *   costs in every process on its way.
 *
 *   npm run build:ts && node dist/bench/warm-up.js [--windows N] [--concurrency C] [--idle-ms MS] [--gaps 0,2,10,30,200] [--samples S]
 */
import { fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { LocalCluster } from '../services/common/local-cluster';
import { startLocalCluster } from '../services/common/local-cluster';
import { InvocationClient } from '../services/common/invocation-client';
import { cpuMeter, LOAD_GENERATOR } from './cpu';
import { natsRoundTrip, natsRoundTripAfterIdle } from './floors';
import type { CallOutcome } from './hayate-api';
import { clusterPids, clusterState, deploy, exampleModule, httpCall, httpInvoker, rawCall } from './hayate-api';
import { closedLoop, pacedCalls, quantiles } from './stats';

const ms = (us: number): string => (us / 1000).toFixed(3);
const input = Buffer.from('hello, edge!    ');

/** One window of calls: how many, their p50 and CPU ms per call by process group. */
async function windows(count: number, concurrency: number, groups: Record<string, number[]>, one: () => Promise<boolean>): Promise<string[]> {
  const lines: string[] = [];
  for (let w = 0; w < count; w += 1) {
    const meter = cpuMeter(groups);
    const loop = await closedLoop(concurrency, { ms: 1000 }, one);
    const cpu = meter.stop(loop.samples.length);
    const perCall = Object.entries(cpu.groups).map(([name, share]) => `${name} ${share.ms_per_call}`).join(', ');
    lines.push(`  second ${w + 1}: ${loop.samples.length} calls, p50 ${ms(quantiles(loop.samples).p50)} ms; CPU ms/call: ${perCall}`);
  }
  return lines;
}

/** Runs `body` on a cluster started for it (one invoker, container tier off) with `upper` deployed, then stops it. */
async function withFreshCluster(body: (cluster: LocalCluster, pids: ReturnType<typeof clusterPids>) => Promise<void>): Promise<void> {
  const cluster = await startLocalCluster({ invokers: 1, env: { HAYATE_CONTAINERS: 'off', HAYATE_LOG_LEVEL: 'warn' } });
  try {
    await deploy(cluster.http, 'upper', exampleModule('upper'), { policy: 'wasm' });
    await body(cluster, clusterPids(clusterState(cluster)));
  } finally {
    await cluster.stop();
  }
}

async function freshCluster(windowCount: number, concurrency: number): Promise<void> {
  await withFreshCluster(async (cluster, pids) => {
    const client = httpInvoker(cluster.http, 1);
    try {
      process.stdout.write('fresh cluster, trivial calls over HTTP, 1 in flight, from its first call:\n');
      process.stdout.write(`${(await windows(windowCount, 1, { controller: pids.controller, invoker: pids.invokers }, async () => (await httpCall(client, 'upper', input)).ok)).join('\n')}\n`);
    } finally {
      client.close();
    }
  });
  await withFreshCluster(async (cluster, pids) => {
    const nc = await connect({ servers: cluster.nats });
    const client = new InvocationClient(nc, {});
    try {
      process.stdout.write(`fresh cluster, trivial calls over NATS, ${concurrency} in flight, from its first call:\n`);
      process.stdout.write(`${(await windows(windowCount, concurrency, { invoker: pids.invokers, nats: pids.nats }, async () => (await client.call({ function: 'upper', input, args: [] })).response.status === 'OK')).join('\n')}\n`);
    } finally {
      client.close();
      await nc.close();
    }
  });
}

/** The child: a bare node:http echo server on a free loopback port, which it prints. */
function serveEcho(): void {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(Buffer.concat(chunks)));
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
}

async function bareHttp(idleMs: number): Promise<void> {
  const child = fork(__filename, ['--serve-echo'], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(Number(p))));
  // the echo server answers any path: the bench's keep-alive client of the invoke route serves as is
  const client = httpInvoker(`http://127.0.0.1:${port}`, 1);
  const post = () => client.invoke('echo', input);
  try {
    for (let i = 0; i < 300; i += 1) await post();
    for (const gap of [0, idleMs]) {
      const count = gap === 0 ? 2000 : 300;
      const meter = cpuMeter({ server: [child.pid ?? 0] });
      const samples = await pacedCalls(count, gap, post);
      const cpu = meter.stop(count);
      process.stdout.write(`  ${gap === 0 ? 'back to back' : `${gap} ms idle before each`}: p50 ${ms(quantiles(samples).p50)} ms; CPU ms/request: server ${cpu.groups['server']?.ms_per_call}, client ${cpu.groups[LOAD_GENERATOR]?.ms_per_call}\n`);
    }
  } finally {
    client.close();
    child.kill();
  }
}

async function bareNats(idleMs: number): Promise<void> {
  const cluster = await startLocalCluster({ invokers: 0, env: { HAYATE_LOG_LEVEL: 'warn' } });
  const nc = await connect({ servers: cluster.nats });
  try {
    const busy = await natsRoundTrip(nc, 2000);
    const idle = await natsRoundTripAfterIdle(nc, 300, idleMs);
    process.stdout.write(`  back to back: p50 ${ms(busy.p50)} ms; ${idleMs} ms idle before each: p50 ${ms(idle.p50)} ms\n`);
  } finally {
    await nc.close();
    await cluster.stop();
  }
}

/** `call` as a paced call: a call that did not answer OK ends the run. */
function ok(name: string, call: () => Promise<CallOutcome>): () => Promise<void> {
  return async () => {
    if (!(await call()).ok) throw new Error(`a ${name} call failed`);
  };
}

/** A warm cluster's calls of a warm function after `gaps` ms of idle each, over HTTP and NATS, interleaved. */
async function warmAfterIdle(gaps: number[], samples: number): Promise<void> {
  await withFreshCluster(async (cluster) => {
    const nc = await connect({ servers: cluster.nats });
    const client = httpInvoker(cluster.http, 1);
    const calls = { HTTP: () => httpCall(client, 'upper', input), NATS: () => rawCall(nc, 'upper', input) };
    try {
      const took = new Map<string, number[]>();
      for (const [name, call] of Object.entries(calls)) {
        for (let i = 0; i < 3000; i += 1) await call();
        took.set(`${name} back to back`, await pacedCalls(300, 0, ok(name, call)));
      }
      for (let i = 0; i < samples; i += 1) {
        for (const gap of gaps) {
          for (const [name, call] of Object.entries(calls)) {
            await sleep(gap); // even 0: a timer turn after a call of the other transport
            const key = `${name} ${gap}`;
            if (!took.has(key)) took.set(key, []);
            took.get(key)!.push(...(await pacedCalls(1, 0, ok(name, call))));
          }
        }
      }
      for (const gap of ['back to back', ...gaps]) {
        const p50 = (name: string) => ms(quantiles(took.get(`${name} ${gap}`) ?? []).p50);
        const what = typeof gap === 'string' ? `${gap} (300 calls of one transport)` : `${gap} ms idle before each`;
        process.stdout.write(`  ${what}: HTTP p50 ${p50('HTTP')} ms, NATS p50 ${p50('NATS')} ms\n`);
      }
    } finally {
      client.close();
      await nc.close();
    }
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      windows: { type: 'string', default: '12' },
      concurrency: { type: 'string', default: '32' },
      'idle-ms': { type: 'string', default: '10' },
      gaps: { type: 'string', default: '0,2,10,30,200' },
      samples: { type: 'string', default: '20' },
      'serve-echo': { type: 'boolean', default: false },
    },
  });
  if (values['serve-echo']) return serveEcho();
  const idleMs = Number(values['idle-ms']);
  await freshCluster(Number(values.windows), Number(values.concurrency));
  process.stdout.write('bare node:http pair, 16 B echo, 1 in flight:\n');
  await bareHttp(idleMs);
  process.stdout.write('bare NATS round trip (nats.js echo responder):\n');
  await bareNats(idleMs);
  process.stdout.write(`warm cluster, a warm function called after idle (${values.samples} calls each, interleaved):\n`);
  await warmAfterIdle(values.gaps.split(',').map(Number), Number(values.samples));
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`warm-up: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
