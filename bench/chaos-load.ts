/**
 * The chaos suite's load: sync and async invocations over the controller's HTTP API, each with a unique input
 * and an answer known in advance, so every answer is checked exactly.
 *
 * - `sha256` of a unique text (most calls: fast);
 * - `primes` of a unique N (π(N), the count of primes ≤ N): every `longEvery`-th sync call takes N near
 *   4·10⁷, a few hundred ms, so it spans invoker beats and is often running when its invoker is killed.
 */
import { createHash } from 'node:crypto';
import { asBufferSource } from '../services/common/wasm-module';

/** One request of the load and the answer it must get. */
export interface Job {
  fn: 'sha256' | 'primes';
  input: Buffer;
  expected: string;
}

/** Outcome of one sync request. */
export interface SyncSample {
  ok: boolean;
  wrong: boolean;
  latencyMs: number;
  invocationId: string;
  attempts: number;
  /** Hayate-Failover-Ms, when the call failed over: last sign of life of the failed attempt → answer. */
  failoverMs: number;
  /** Hayate-Failover-Detect-Ms: the longest silence after which an attempt was taken for dead. */
  detectMs: number;
  error: string;
}

/** An accepted async request, until its activation is finished. */
export interface AsyncEntry {
  id: string;
  job: Job;
  state: string;
  output: string | null;
  attempts: number;
  /** finished_at − created_at of the record. */
  completionMs: number;
  /** How long the POST took to answer 202 (JetStream confirmed the enqueue). */
  acceptMs: number;
  /** started_at (of the last attempt) − created_at: time in the queue, failovers included. */
  queueMs: number;
}

const LONG_N = 40_000_000;
const MEDIUM_N = 2_000_000;

/**
 * π(N) for the Ns the load uses: one sieve up to the largest, with counts at checkpoints, so each answer
 * costs a scan of at most one segment.
 */
export class PrimeCounts {
  private readonly composite: Uint8Array;
  private readonly checkpoints: number[] = [];
  private static readonly STEP = 1_000_000;

  constructor(readonly max: number) {
    this.composite = new Uint8Array(max + 1);
    for (let i = 2; i * i <= max; i += 1) if (this.composite[i] === 0) for (let j = i * i; j <= max; j += i) this.composite[j] = 1;
    let count = 0;
    for (let n = 0; n <= max; n += 1) {
      if (n % PrimeCounts.STEP === 0) this.checkpoints.push(count);
      if (n >= 2 && this.composite[n] === 0) count += 1;
    }
  }

  /** π(n) for 0 ≤ n ≤ max. */
  pi(n: number): number {
    const k = Math.floor(n / PrimeCounts.STEP);
    let count = this.checkpoints[k] ?? 0;
    for (let i = k * PrimeCounts.STEP; i <= n; i += 1) if (i >= 2 && this.composite[i] === 0) count += 1;
    return count;
  }
}

/** Makes the unique jobs of one run. */
export class JobMaker {
  private seq = 0;
  readonly primes: PrimeCounts;

  /**
   * @param runId unique per run, part of every input
   * @param longEvery every n-th sync job is a long primes call (0 = never)
   * @param maxJobs bound on jobs, so the Ns stay under the sieve
   */
  constructor(
    private readonly runId: string,
    private readonly longEvery: number,
    maxJobs = 200_000,
  ) {
    this.primes = new PrimeCounts(LONG_N + maxJobs);
  }

  /** The next job; `sync` jobs may be long. */
  next(sync: boolean): Job {
    this.seq += 1;
    const n = this.seq;
    if (sync && this.longEvery > 0 && n % this.longEvery === 0) return this.primesJob(LONG_N + n);
    if (n % 7 === 0) return this.primesJob(MEDIUM_N + n);
    const input = Buffer.from(`chaos ${this.runId} request ${n}`);
    return { fn: 'sha256', input, expected: `${createHash('sha256').update(input).digest('hex')}\n` };
  }

  private primesJob(n: number): Job {
    return { fn: 'primes', input: Buffer.from(String(n)), expected: `${this.primes.pi(n)}\n` };
  }
}

/** Sends one sync job through the controller and checks the answer. */
export async function sendSync(http: string, job: Job, timeoutMs: number): Promise<SyncSample> {
  const started = performance.now();
  try {
    const res = await fetch(`${http}/v1/functions/${job.fn}/invoke`, { method: 'POST', body: asBufferSource(job.input), headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(timeoutMs) });
    const body = Buffer.from(await res.arrayBuffer()).toString('utf8');
    const latencyMs = performance.now() - started;
    const base = { latencyMs, invocationId: res.headers.get('hayate-invocation-id') ?? '', attempts: Number(res.headers.get('hayate-attempt') ?? 0), failoverMs: Number(res.headers.get('hayate-failover-ms') ?? 0), detectMs: Number(res.headers.get('hayate-failover-detect-ms') ?? 0) };
    if (res.status !== 200) return { ...base, ok: false, wrong: false, error: `HTTP ${res.status} ${body.slice(0, 200)}` };
    if (body !== job.expected) return { ...base, ok: false, wrong: true, error: `wrong answer for ${job.fn} ${job.input.toString()}: ${JSON.stringify(body.slice(0, 80))}` };
    return { ...base, ok: true, wrong: false, error: '' };
  } catch (err: unknown) {
    return { ok: false, wrong: false, latencyMs: performance.now() - started, invocationId: '', attempts: 0, failoverMs: 0, detectMs: 0, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Queues one async job; resolves with its activation id, or an error text when it was not accepted. */
export async function sendAsync(http: string, job: Job, timeoutMs: number): Promise<{ id: string; acceptMs: number } | { error: string }> {
  const started = performance.now();
  try {
    const res = await fetch(`${http}/v1/functions/${job.fn}/invoke?async=1`, { method: 'POST', body: asBufferSource(job.input), headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (res.status !== 202) return { error: `HTTP ${res.status} ${text.slice(0, 200)}` };
    return { id: (JSON.parse(text) as { id: string }).id, acceptMs: performance.now() - started };
  } catch (err: unknown) {
    return { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Reads an activation; updates `entry` when it finished. Resolves true when it is finished. */
export async function pollActivation(http: string, entry: AsyncEntry): Promise<boolean> {
  try {
    const res = await fetch(`${http}/v1/activations/${entry.id}`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) return false;
    const a = (await res.json()) as { state: string; output?: string | null; attempts: number; created_at: string | null; started_at: string | null; finished_at: string | null };
    entry.state = a.state;
    entry.attempts = a.attempts;
    if (a.state !== 'succeeded' && a.state !== 'failed') return false;
    entry.output = a.output ?? null;
    entry.completionMs = a.finished_at !== null && a.created_at !== null ? Date.parse(a.finished_at) - Date.parse(a.created_at) : 0;
    entry.queueMs = a.started_at !== null && a.created_at !== null ? Date.parse(a.started_at) - Date.parse(a.created_at) : 0;
    return true;
  } catch {
    return false;
  }
}
