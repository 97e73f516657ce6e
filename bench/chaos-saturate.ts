/**
 * Chaos scenario `saturate` (issue 11, finding 4): no process dies, but the node is saturated. `hayate up`
 * with 2 invokers and the execution audit on; `concurrency` HTTP callers each send `upper` a large input
 * (6 MiB by default) again and again for `durationMs`. Every answer is checked exactly (200 with the input
 * upper-cased, or a typed 503 OVERLOADED); every execution is counted from the audit: no invocation may
 * start twice, and no call may fail any other way.
 *
 *   node dist/bench/chaos.js --scenario saturate [--duration-ms N]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExecutionLog } from '../services/common/execution-record';
import { startLocalCluster } from '../services/common/local-cluster';
import { deploy, exampleModule } from './hayate-api';
import { quantiles } from './stats';

export interface SaturateOptions {
  /** How long the callers keep sending. @default 20000 */
  durationMs?: number;
  /** HTTP callers at once. @default 40 */
  concurrency?: number;
  /** Input bytes per call. @default 6 MiB - 64 */
  inputBytes?: number;
  /** Invoker processes. @default 2 */
  invokers?: number;
  progress?: (line: string) => void;
}

export interface SaturateReport {
  scenario: 'saturate';
  durationMs: number;
  concurrency: number;
  inputBytes: number;
  sent: number;
  correct: number;
  /** Typed 503 answers with HAYATE_ERR_OVERLOADED. */
  overloaded: number;
  /** Any other answer: wrong output, another status, a transport error. */
  failed: number;
  /** Invocations the audit shows started, and those started more than once. */
  started: number;
  ranTwice: number;
  p50Ms: number;
  p99Ms: number;
  errors: string[];
}

/** Runs the scenario; the cluster is stopped before it resolves. */
export async function runSaturate(options: SaturateOptions = {}): Promise<SaturateReport> {
  const o = { durationMs: 20_000, concurrency: 40, inputBytes: 6 * 1024 * 1024 - 64, invokers: 2, ...options };
  const auditDir = mkdtempSync(join(tmpdir(), 'hayate-saturate-'));
  const audit = join(auditDir, 'executions.log');
  const cluster = await startLocalCluster({ invokers: o.invokers, env: { HAYATE_EXECUTION_LOG: audit }, captureLogs: true });
  const report: SaturateReport = { scenario: 'saturate', durationMs: o.durationMs, concurrency: o.concurrency, inputBytes: o.inputBytes, sent: 0, correct: 0, overloaded: 0, failed: 0, started: 0, ranTwice: 0, p50Ms: 0, p99Ms: 0, errors: [] };
  const latencies: number[] = [];
  try {
    await deploy(cluster.http, 'upper', exampleModule('upper'));
    const input = Buffer.alloc(o.inputBytes, 'a');
    const expected = Buffer.alloc(o.inputBytes, 'A');
    const until = Date.now() + o.durationMs;
    o.progress?.(`chaos saturate: ${o.concurrency} callers × ${o.inputBytes} bytes to upper for ${o.durationMs} ms, ${o.invokers} invokers`);
    const caller = async (): Promise<void> => {
      while (Date.now() < until) {
        report.sent += 1;
        const t0 = performance.now();
        try {
          const res = await fetch(new URL('/v1/functions/upper/invoke', cluster.http), { method: 'POST', body: input });
          const body = Buffer.from(await res.arrayBuffer());
          latencies.push(performance.now() - t0);
          if (res.status === 200 && body.equals(expected)) report.correct += 1;
          else if (res.status === 503 && body.toString().includes('HAYATE_ERR_OVERLOADED')) report.overloaded += 1;
          else {
            report.failed += 1;
            report.errors.push(`${res.status} ${body.subarray(0, 200).toString()}`);
          }
        } catch (err: unknown) {
          report.failed += 1;
          report.errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, caller));
    const starts = new Map<string, number>();
    for (const r of parseExecutionLog(readFileSync(audit, 'utf8'))) if (r.event === 'start') starts.set(r.invocationId, (starts.get(r.invocationId) ?? 0) + 1);
    report.started = starts.size;
    report.ranTwice = [...starts.values()].filter((n) => n > 1).length;
    const q = quantiles(latencies);
    report.p50Ms = q.p50;
    report.p99Ms = q.p99;
    return report;
  } finally {
    await cluster.stop();
    rmSync(auditDir, { recursive: true, force: true });
  }
}

/** One line of figures. */
export function formatSaturate(r: SaturateReport): string {
  return `scenario saturate: ${r.concurrency} callers × ${(r.inputBytes / 1048576).toFixed(1)} MiB for ${(r.durationMs / 1000).toFixed(0)} s: sent ${r.sent}  correct ${r.correct}  overloaded (503) ${r.overloaded}  failed otherwise ${r.failed}  started ${r.started}  ran twice ${r.ranTwice}  p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms${r.errors.length > 0 ? `\n  first errors: ${r.errors.slice(0, 3).join(' | ')}` : ''}`;
}
