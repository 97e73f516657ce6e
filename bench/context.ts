/** What every part of `hayate bench` shares while it runs: the plan, the cluster, clients and progress. */
import type Docker from 'dockerode';
import type { NatsConnection } from 'nats';
import type { InvocationClient } from '../services/common/invocation-client';
import type { LocalCluster } from '../services/common/local-cluster';

/** How much a run measures. `--quick` and the full run are two plans; tests pass a smaller one. */
export interface Plan {
  /** Warm-up of each mode before its warm cells: at most this many calls, and this long. */
  warmupCalls: number;
  warmupMs: number;
  /** Hybrid: longest wait for its tier choice to settle. */
  settleMs: number;
  /** Per mode and task, the seed's amounts: sequential cells of these many calls… */
  sequential: number[];
  /** …and cells of `concurrentCalls` at these concurrencies. */
  concurrency: number[];
  concurrentCalls: number;
  cellBudgetMs: number;
  /** Interleaved rounds comparing the modes of a task: rounds, and calls (or ms, whichever ends first) per mode per round. */
  rounds: number;
  roundCalls: number;
  roundMs: number;
  /**
   * Hybrid and the best tier of a task again in short rounds (the drift-proof comparison): at least
   * `minShortRounds`, then until the ratio's 95 % interval is within ±`shortHalfWidth`, or `shortMs` has passed,
   * or `shortRounds` were run; each cell about `shortCellMs` of calls (5 at least).
   */
  shortRounds: number;
  minShortRounds: number;
  shortMs: number;
  shortCellMs: number;
  shortHalfWidth: number;
  /** Cold `docker run`s per task after the first (0: the first only). */
  dockerRunCalls: number;
  /** In-process floor: calls (and ms) per task. */
  floorCalls: number;
  floorMs: number;
  /** First call of a never-seen module: samples per transport. */
  firstCallSamples: number;
  /** Payload sizes of the trivial task (bytes), and ms of sequential calls per size. */
  payloads: number[];
  payloadMs: number;
  /** Concurrency levels of trivial calls, and ms per level and transport. */
  levels: number[];
  levelMs: number;
  /** Numbers of deployed functions called round robin, steady rounds over all of them after the first, and a cap on steady calls. */
  fleet: number[];
  fleetSteadyRounds: number;
  fleetSteadyMaxCalls: number;
  /** Invokers on the node (each count a cluster of its own), rounds and ms per cluster per round. */
  invokers: number[];
  invokerRounds: number;
  invokerMs: number;
  /** Concurrency of the throughput cells of the invokers dimension. */
  invokerConcurrency: number;
}

/** The plan of a quick run (`--quick`, within 2 minutes) or of a full one. */
export function plan(quick: boolean): Plan {
  const common = { payloads: [16, 1024, 64 * 1024, 1024 * 1024], fleet: [1, 100, 1000], invokers: [1, 2, 4], invokerConcurrency: 32 };
  return quick
    ? { ...common, warmupCalls: 60, warmupMs: 200, settleMs: 3000, sequential: [], concurrency: [], concurrentCalls: 0, cellBudgetMs: 1200, rounds: 6, roundCalls: 24, roundMs: 120, shortRounds: 48, minShortRounds: 8, shortMs: 1800, shortCellMs: 20, shortHalfWidth: 0.02, dockerRunCalls: 0, floorCalls: 300, floorMs: 400, firstCallSamples: 7, payloadMs: 400, levels: [1, 8, 32], levelMs: 500, fleetSteadyRounds: 1, fleetSteadyMaxCalls: 200, invokerRounds: 3, invokerMs: 500 }
    : { ...common, warmupCalls: 300, warmupMs: 2500, settleMs: 15_000, sequential: [10, 100, 1000], concurrency: [8, 32], concurrentCalls: 1000, cellBudgetMs: 4000, rounds: 12, roundCalls: 100, roundMs: 700, shortRounds: 400, minShortRounds: 16, shortMs: 40_000, shortCellMs: 40, shortHalfWidth: 0.02, dockerRunCalls: 10, floorCalls: 500, floorMs: 4000, firstCallSamples: 21, payloadMs: 2000, levels: [1, 8, 32, 128], levelMs: 3000, fleetSteadyRounds: 3, fleetSteadyMaxCalls: 3000, invokerRounds: 5, invokerMs: 3000 };
}

/** Process ids of the cluster by part, for CPU per process. */
export interface Pids {
  invokers: number[];
  nats: number[];
  controller: number[];
}

export interface BenchContext {
  quick: boolean;
  plan: Plan;
  cluster: LocalCluster;
  nc: NatsConnection;
  client: InvocationClient;
  docker: Docker | null;
  pids: Pids;
  notes: string[];
  /** Shows what is being measured now: the part of the run (its wall time is reported) and a detail. */
  progress(phase: string, detail?: string): void;
}
