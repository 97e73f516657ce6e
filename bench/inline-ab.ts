/**
 * The inline lane against worker threads only (issue 12): two clusters of one invoker each (container tier
 * off), one with `HAYATE_INLINE=off`, warmed with 6 s of calls of `upper`, then measured in interleaved
 * rounds (A B, B A, …): calls/s and CPU ms per call (all processes, and the invoker alone) at 8 and 32 in
 * flight over `hayate.v1.call`, p50 of 300 calls back to back, p50 of `--paced` calls 10 ms apart.
 *
 *   npm run build:ts && node dist/bench/inline-ab.js [--rounds 3] [--paced 40] [--only-latency]
 */
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { InvocationClient } from '../services/common/invocation-client';
import { startLocalCluster } from '../services/common/local-cluster';
import type { LocalCluster } from '../services/common/local-cluster';
import { cpuMeter } from './cpu';
import { clusterPids, clusterState, deploy, exampleModule } from './hayate-api';
import { closedLoop, pacedCalls, quantiles } from './stats';

const VARIANTS: Record<string, Record<string, string>> = { workers: { HAYATE_INLINE: 'off' }, inline: {} };
const INPUT = Buffer.from('hello, edge!    ');

interface Figures {
  callsPerS8: number[];
  callsPerS32: number[];
  cpuMsPerCall: number[];
  invokerMsPerCall: number[];
  backToBackP50Us: number[];
  paced10msP50Us: number[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, paced: { type: 'string', default: '40' }, 'only-latency': { type: 'boolean', default: false } } });
  const rounds = Number(values.rounds);
  const paced = Number(values.paced);
  const loads = values['only-latency'] ? [] : [8, 32];
  const up: Record<string, { cluster: LocalCluster; nc: NatsConnection; call: () => Promise<boolean>; pids: ReturnType<typeof clusterPids> }> = {};
  try {
    for (const [name, env] of Object.entries(VARIANTS)) {
      const cluster = await startLocalCluster({ invokers: 1, env: { HAYATE_CONTAINERS: 'off', ...env } });
      await deploy(cluster.http, 'upper', exampleModule('upper'));
      const nc = await connect({ servers: cluster.nats });
      const client = new InvocationClient(nc);
      const call = async () => (await client.call({ function: 'upper', input: INPUT, args: [] })).response.status === 'OK';
      await closedLoop(32, { ms: 6000 }, call);
      up[name] = { cluster, nc, call, pids: clusterPids(clusterState(cluster)) };
    }
    const figures: Record<string, Figures> = {};
    for (let r = 0; r < rounds; r += 1) {
      const order = Object.keys(up);
      if (r % 2 === 1) order.reverse();
      for (const name of order) {
        const { call, pids } = up[name]!;
        const f = (figures[name] ??= { callsPerS8: [], callsPerS32: [], cpuMsPerCall: [], invokerMsPerCall: [], backToBackP50Us: [], paced10msP50Us: [] });
        for (const concurrency of loads) {
          const meter = cpuMeter({ invoker: pids.invokers, nats: pids.nats });
          const loop = await closedLoop(concurrency, { ms: 3000 }, call);
          const cpu = meter.stop(loop.samples.length);
          const perS = Math.round(loop.samples.length / (loop.wallMs / 1000));
          if (concurrency === 8) f.callsPerS8.push(perS);
          else {
            f.callsPerS32.push(perS);
            f.cpuMsPerCall.push(cpu.total.ms_per_call);
            f.invokerMsPerCall.push(cpu.groups['invoker']?.ms_per_call ?? 0);
          }
        }
        f.backToBackP50Us.push(Math.round(quantiles(await pacedCalls(300, 0, call)).p50));
        f.paced10msP50Us.push(Math.round(quantiles(await pacedCalls(paced, 10, call)).p50));
      }
      process.stderr.write(`[inline-ab] round ${r + 1} of ${rounds}\n`);
    }
    for (const [name, f] of Object.entries(figures)) process.stdout.write(`${name.padEnd(8)} ${JSON.stringify(f)}\n`);
  } finally {
    for (const { cluster, nc } of Object.values(up)) {
      await nc.close();
      await cluster.stop();
    }
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
