/** The JSON the page reads: `GET /v1/live` events, `/v1/functions`, `/v1/activations/{id}` (snake_case). */

export interface TierView {
  invocations: number;
  errors: number;
  p50_us: number;
  p99_us: number;
}

export interface TransitionView {
  from: string;
  to: string;
  reason: string;
  at: string;
}

export interface FunctionView {
  name: string;
  state: string;
  digest: string;
  in_flight: number;
  last_error: string;
  transitions?: TransitionView[];
  wasm: TierView;
  container: TierView;
}

export interface InvokerView {
  id: string;
  state: string;
  site: string;
  hostname: string;
  workers: number;
  in_flight: number;
  invocations: number;
  container_tier: boolean;
  container_reason: string;
  module_cache_bytes: number;
  functions: FunctionView[];
  stale: boolean;
  last_seen_at: string;
  calls_per_s: number;
}

export interface Fleet {
  t: number;
  invokers: InvokerView[];
}

/** p50 µs, p99 µs, calls per second of one tier in one round. */
export type TierPoint = [number, number, number];

export interface ChartPoint {
  t: number;
  fns: Record<string, { wasm?: TierPoint; container?: TierPoint }>;
}

export interface ActivationView {
  id: string;
  function: string;
  state: string;
  reason?: string;
  error?: { code: string; message: string };
  status?: string;
  exit_code?: number;
  stderr?: string;
  tier?: string;
  invoker: string | null;
  timings_ms?: { total: number; startup: number; exec: number };
  created_at: string | null;
  finished_at: string | null;
}

export interface SpecView {
  name: string;
  version: number;
  digest: string;
  image?: string;
  policy?: string;
}

export const TIERS = ['wasm', 'container'] as const;
export type TierName = (typeof TIERS)[number];
