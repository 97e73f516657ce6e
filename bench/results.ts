/**
 * What `hayate bench` measures, as written to `--json` and read by the report: the seed evaluation's rows
 * (startup, execution, teardown per mode, task and amount), the modes compared in interleaved rounds, and
 * how cost grows with payload size, concurrency, the number of deployed functions and of invokers. Every
 * figure sits beside its floor measured in the same run. Times are microseconds unless a name says otherwise.
 */
import type { CpuUse } from './cpu';
import type { Quantiles, Spread } from './stats';

export const Mode = { hybrid: 'hybrid', wasm: 'wasm', container: 'container', dockerRun: 'docker-run' } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** One cell of the seed evaluation: `amount` calls of a task at `concurrency` in one mode. */
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
  /** The warm row of the interleaved rounds: each round's e2e p50 (its median is what modes are compared by). */
  round_p50_us?: Spread;
}

/** One task's modes compared in interleaved rounds: hybrid ÷ the better single tier, from the round medians. */
export interface ModeComparison {
  workload: string;
  size: string;
  rounds: number;
  calls_per_round: number;
  /** Per mode: the e2e p50 of each round, with their median, min and max. */
  p50_us: Partial<Record<Mode, Spread>>;
  /** The single tier with the lower median of round p50s. */
  best_single: Mode | null;
  /** Hybrid and the best single tier again, alone, in many short rounds (bench/modes.ts `shortRounds`). */
  short_rounds?: ShortRounds;
  /** Hybrid's p50 ÷ the best single tier's, in the short rounds; 0 when not measured. */
  hybrid_vs_best: number;
  /** Median over the long rounds of hybrid's round p50 ÷ the best single tier's in the same round; 0 when not measured. */
  hybrid_vs_best_rounds?: number;
}

/** Modes of a task in many short rounds: each mode's p50 over all its calls there. */
export interface ShortRounds {
  rounds: number;
  calls_per_cell: number;
  p50_us: Partial<Record<Mode, number>>;
  /** 95 % interval of the ratio of the two p50s (`batchInterval`). */
  ratio_interval: { low: number; high: number };
  /** Each round's hybrid cell p50 ÷ its single-tier cell's p50: the spread of the comparison. */
  hybrid_vs_best_per_round: Spread;
}

/** The first call of a never-seen module, sent right after its deploy (a fresh name and module per sample). */
export interface FirstCall {
  transport: 'nats' | 'http';
  samples: number;
  e2e_us: Quantiles;
  /** Calls that the invoker reported as cold (fetched and compiled for this call). */
  cold_calls: number;
  /** NATS round trip + in-process run of the same module (compile included once). */
  floor_us: number;
  ratio_to_floor: number;
}

/** The trivial task at one payload size, sequential calls over `hayate.v1.call`. */
export interface PayloadRow {
  label: string;
  bytes: number;
  calls: number;
  e2e_us: Quantiles;
  calls_per_s: number;
  /** Bare NATS round trip with the same payload + in-process run with the same input. */
  floor_us: number;
  nats_rtt_us: Quantiles;
  wasm_inprocess_us: Quantiles;
  ratio_to_floor: number;
}

/** Trivial calls at one concurrency over one transport, with the CPU they cost. */
export interface ConcurrencyRow {
  transport: 'nats' | 'http';
  concurrency: number;
  calls: number;
  errors: number;
  calls_per_s: number;
  e2e_us: Quantiles;
  /** Bare nats.js request/reply at the same concurrency (the throughput floor). */
  floor_calls_per_s: number;
  /** calls/s ÷ floor calls/s (≤ 1). */
  ratio_to_floor: number;
  cpu: CpuUse;
}

/** N distinct functions (the same small module made unique per name) called round robin. */
export interface FleetRow {
  functions: number;
  /** Wall time of the N deploys (made `deploy_concurrency` at a time). */
  deploy_ms: number;
  deploy_concurrency: number;
  concurrency: number;
  /** The first call of each function. */
  first: { calls: number; cold_calls: number; errors: number; e2e_us: Quantiles; calls_per_s: number; ratio_to_floor: number };
  /** Later rounds over all N. */
  steady: { calls: number; cold_calls: number; errors: number; e2e_us: Quantiles; calls_per_s: number; ratio_to_floor: number };
  /** Module cache bytes (GET /v1/status `module_cache_bytes`, summed over invokers) before the deploys and at the end. */
  module_cache_bytes: { before: number; after: number; limit: number };
}

/** Trivial-call throughput with N invokers on the node, in interleaved rounds over clusters running side by side. */
export interface InvokersRow {
  invokers: number;
  concurrency: number;
  calls_per_s: Spread;
  e2e_p50_us: number;
  e2e_p99_us: number;
  /** Median calls/s ÷ the 1-invoker median. */
  ratio_to_one: number;
  /** Median calls/s ÷ bare nats.js request/reply at the same concurrency on the same server. */
  floor_calls_per_s: number;
  ratio_to_floor: number;
  /** CPU of the round with the median rate. */
  cpu: CpuUse;
}

/** One line of the targets table. */
export interface Target {
  name: string;
  goal: string;
  /** Measured, as text with its unit. */
  value: string;
  /** The floor or baseline it is set against, as text. */
  floor: string;
  met: boolean;
}

export interface Dimensions {
  first_call: FirstCall[];
  payload: PayloadRow[];
  concurrency: ConcurrencyRow[];
  functions: FleetRow[];
  invokers: InvokersRow[];
}

export interface BenchResults {
  machine: Record<string, unknown>;
  /** Wall time of the whole run, seconds. */
  wall_s: number;
  /** Wall time by part of the run (cluster start, each task, each dimension), seconds. */
  phases_s: Record<string, number>;
  quick: boolean;
  limits: {
    nats_rtt_us: Quantiles;
    /** The same round trip with each request sent 10 ms after the previous answer (every process asleep). */
    nats_rtt_idle_us: Quantiles;
    /**
     * The round trip to a responder in another process, back to back and 10 ms after the previous answer:
     * what any call to an invoker process crosses (runs before this figure was measured have none).
     */
    nats_rtt_process_us?: Quantiles;
    nats_rtt_process_idle_us?: Quantiles;
    wasm_inprocess_us: Quantiles;
    floors: Record<string, { wasm_inprocess_us: Quantiles; floor_us: number }>;
    /** Bare nats.js request/reply calls/s by concurrency. */
    nats_pipelined_per_s: Record<string, number>;
  };
  rows: Row[];
  modes: ModeComparison[];
  dimensions: Dimensions;
  targets: Target[];
  notes: string[];
}
