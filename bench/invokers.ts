/**
 * Trivial-call throughput against the number of invokers on the node: one cluster per count (`hayate up
 * --invokers N`, container tier off, so that WASM is what scales), all running side by side and measured in
 * interleaved rounds, each beside bare nats.js request/reply on its own server, with CPU per process.
 */
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { startLocalCluster } from '../services/common/local-cluster';
import type { LocalCluster } from '../services/common/local-cluster';
import type { CpuUse } from './cpu';
import { cpuMeter } from './cpu';
import type { BenchContext, Plan } from './context';
import { natsThroughput } from './floors';
import { clusterPids, clusterState, deploy, exampleModule, rawCall } from './hayate-api';
import type { InvokersRow } from './results';
import { closedLoop, interleaved, perSecond, quantiles } from './stats';

interface Node {
  invokers: number;
  cluster: LocalCluster;
  nc: NatsConnection;
  groups: Record<string, number[]>;
  /** Per round: rate, latencies, CPU. */
  rounds: { rate: number; p50: number; p99: number; cpu: CpuUse }[];
}

/**
 * Starts one cluster per invoker count of the plan (at once), measures them in interleaved rounds and stops them.
 * @param progress shows what is being measured (see `BenchContext.progress`)
 */
export async function invokerScaling(plan: Plan, progress: BenchContext['progress']): Promise<InvokersRow[]> {
  progress('invokers', `starting clusters of ${plan.invokers.join(', ')}`);
  const started = await Promise.allSettled(plan.invokers.map((n) => startLocalCluster({ invokers: n, env: { HAYATE_CONTAINERS: 'off', HAYATE_LOG_LEVEL: 'warn' } })));
  const nodes: Node[] = [];
  try {
    for (const [i, s] of started.entries()) {
      if (s.status === 'rejected') throw s.reason;
      const cluster = s.value;
      const pids = clusterPids(clusterState(cluster));
      await deploy(cluster.http, 'upper', exampleModule('upper'), { policy: 'wasm' });
      nodes.push({ invokers: plan.invokers[i]!, cluster, nc: await connect({ servers: cluster.nats }), groups: { invokers: pids.invokers, nats: pids.nats }, rounds: [] });
    }
    const input = Buffer.from('hello, edge!    ');
    const drive = (node: Node, ms: number) => closedLoop(plan.invokerConcurrency, { ms }, async () => (await rawCall(node.nc, 'upper', input)).ok);
    // every invoker fetches and compiles the module, and every worker runs it, before measuring
    for (const node of nodes) await drive(node, 300);
    const byKey = new Map(nodes.map((n) => [String(n.invokers), n]));
    const spreads = await interleaved([...byKey.keys()], plan.invokerRounds, async (key, r) => {
      const node = byKey.get(key)!;
      progress('invokers', `${key}, round ${r + 1} of ${plan.invokerRounds}`);
      const meter = cpuMeter(node.groups);
      const loop = await drive(node, plan.invokerMs);
      const q = quantiles(loop.samples);
      node.rounds.push({ rate: perSecond(loop), p50: q.p50, p99: q.p99, cpu: meter.stop(loop.samples.length) });
      return perSecond(loop);
    });
    const one = spreads[String(plan.invokers[0])]?.median ?? 0;
    const rows: InvokersRow[] = [];
    for (const node of nodes) {
      progress('invokers', `${node.invokers}: floor`);
      const floor = await natsThroughput(node.nc, plan.invokerConcurrency, Math.min(plan.invokerMs, 1000) / 2);
      const s = spreads[String(node.invokers)]!;
      const median = [...node.rounds].sort((a, b) => a.rate - b.rate)[Math.floor((node.rounds.length - 1) / 2)]!;
      rows.push({ invokers: node.invokers, concurrency: plan.invokerConcurrency, calls_per_s: s, e2e_p50_us: median.p50, e2e_p99_us: median.p99, ratio_to_one: one > 0 ? Number((s.median / one).toFixed(2)) : 0, floor_calls_per_s: floor.calls_per_s, ratio_to_floor: floor.calls_per_s > 0 ? Number((s.median / floor.calls_per_s).toFixed(3)) : 0, cpu: median.cpu });
    }
    return rows;
  } finally {
    await Promise.allSettled(nodes.map((n) => n.nc.close()));
    await Promise.allSettled(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : Promise.resolve())));
  }
}
