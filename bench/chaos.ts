/**
 * `npm run chaos`: hayate's delivery guarantees (SPEC §7) under chaos, with real processes on loopback.
 *
 * Scenario `invokers`: one nats-server, a controller and 3 invoker processes; sync and async load with a
 * unique input per request; every ~1.5 s a random invoker is SIGKILLed and a replacement started.
 * Scenario `nats`: a 3-server NATS cluster (JetStream, replicas 3), the same processes and load; a random
 * NATS server is SIGKILLed and restarted (same ports and store) again and again.
 *
 * Every answer is checked exactly; executions are counted per invocation id from the invokers' shared
 * execution audit (see chaos-audit.ts). Prints sent, correct, wrong, lost, re-executions and duplicate
 * executions of finished invocations, p99 and worst latency, and failover times.
 *
 * Scenario `saturate` (chaos-saturate.ts): no kills; 40 callers of 6 MiB inputs saturate the node, and no
 * invocation may run twice nor fail but with a typed OVERLOADED.
 *
 *   node dist/bench/chaos.js [--scenario invokers|nats|saturate|all] [--duration-ms N] [--concurrency N] [--json FILE] [--keep]
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { NatsCluster } from '../services/common/nats-cluster';
import { HAYATE_BIN } from '../services/common/child-process';
import { parseExecutionLog } from '../services/common/execution-record';
import type { AuditSummary, KillEvent } from './chaos-audit';
import { analyseAudit } from './chaos-audit';
import type { SaturateReport } from './chaos-saturate';
import { formatSaturate, runSaturate } from './chaos-saturate';
import type { AsyncEntry, SyncSample } from './chaos-load';
import { JobMaker, pollActivation, sendAsync, sendSync } from './chaos-load';
import { deploy, exampleModule } from './hayate-api';

export const Scenario = { invokers: 'invokers', nats: 'nats' } as const;
export type Scenario = (typeof Scenario)[keyof typeof Scenario];

export interface ChaosOptions {
  scenario: Scenario;
  /** How long load and kills go on (at least). */
  durationMs: number;
  /** Go on past durationMs until this many invokers were killed (scenario invokers), up to maxDurationMs. @default 0 */
  minInvokerKills?: number;
  /** Upper bound of the load phase when minInvokerKills is not reached. @default 3 × durationMs */
  maxDurationMs?: number;
  /** Invoker processes kept running. @default 3 */
  invokers?: number;
  /** Mean pause between invoker kills (scenario invokers), ±30 %. @default 1500 */
  killEveryMs?: number;
  /** Pause between NATS server kills (scenario nats); each server stays down ~2 s. @default 4000 */
  natsKillEveryMs?: number;
  /** Sync requests in flight at once. @default 3 */
  syncConcurrency?: number;
  /** Async requests queued per second. @default 10 */
  asyncPerSecond?: number;
  /** Every n-th sync request is a long one (~300 ms). @default 12 */
  longEvery?: number;
  /** After the load, wait up to this long for every activation to finish. @default 60000 */
  settleMs?: number;
  /** Keep the work folder (logs, audit, NATS stores). @default false */
  keep?: boolean;
  /** Progress lines. @default none */
  progress?: (line: string) => void;
}

export interface ChaosReport {
  scenario: Scenario;
  durationMs: number;
  invokerKills: number;
  natsKills: number;
  sync: { sent: number; correct: number; wrong: number; lost: number; failedOver: number; p50Ms: number; p99Ms: number; worstMs: number; worstFailoverMs: number; worstDetectMs: number };
  async: { sent: number; refused: number; accepted: number; succeeded: number; failed: number; wrong: number; lost: number; redelivered: number; p99AcceptMs: number; worstAcceptMs: number; p99QueueMs: number; p99CompletionMs: number; worstCompletionMs: number };
  executions: AuditSummary;
  /** ms from an invoker's SIGKILL to the start of its unfinished work on another invoker by the next attempt (worst). */
  worstRestartAfterKillMs: { sync: number; async: number };
  errors: string[];
  dir: string;
}

function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0);
}

/** A `hayate` service process; its stdout's ready line is awaited, its logs go to `<dir>/<label>.log`. */
async function startService(dir: string, label: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; line: string }> {
  const logFd = openSync(join(dir, `${label}.log`), 'a');
  const child = spawn(process.execPath, [HAYATE_BIN, ...args], { env, stdio: ['ignore', 'pipe', logFd] });
  closeSync(logFd);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not get ready within 30 s (see ${dir}/${label}.log)`));
    }, 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${signal ?? code} before it was ready (see ${dir}/${label}.log)`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (ready.test(line)) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, line });
      }
    });
  });
}

/** Runs one scenario and reports; every process it started is stopped before it resolves. */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const o = { minInvokerKills: 0, maxDurationMs: options.durationMs * 3, invokers: 3, killEveryMs: 1500, natsKillEveryMs: 4000, syncConcurrency: 3, asyncPerSecond: 10, longEvery: 12, settleMs: 60_000, keep: false, progress: () => undefined, ...options };
  const say = o.progress;
  const dir = mkdtempSync(join(tmpdir(), `hayate-chaos-${o.scenario}-`));
  const audit = join(dir, 'executions.log');
  const clusterSize = o.scenario === Scenario.nats ? 3 : 1;
  const children = new Set<ChildProcess>();
  let nats: NatsCluster | null = null;
  try {
    nats = await NatsCluster.start({ dir: join(dir, 'nats'), size: clusterSize, name: 'chaos' });
    const env: NodeJS.ProcessEnv = { ...process.env, HAYATE_LOG_LEVEL: 'info', HAYATE_REPLICAS: String(clusterSize), HAYATE_EXECUTION_LOG: audit, HAYATE_WORKERS: '1' };
    const controller = await startService(dir, 'controller', ['controller', '--nats', nats.url, '--port', '0', '--host', '127.0.0.1'], /^hayate controller ready http=/, env);
    children.add(controller.child);
    const http = controller.line.replace(/^hayate controller ready http=/, '').trim();
    let invokerSeq = 0;
    const live: { id: string; child: ChildProcess }[] = [];
    const startInvoker = async (): Promise<void> => {
      const id = `chaos-invoker-${(invokerSeq += 1)}`;
      const { child } = await startService(dir, id, ['invoker', '--nats', nats!.url, '--id', id], /^hayate invoker ready/, env);
      children.add(child);
      live.push({ id, child });
    };
    await Promise.all(Array.from({ length: o.invokers }, () => startInvoker()));
    await deploy(http, 'sha256', exampleModule('sha256'));
    await deploy(http, 'primes', exampleModule('primes'), { memory_mb: '256' });
    const jobs = new JobMaker(`${Date.now().toString(36)}`, o.longEvery);
    say(`chaos ${o.scenario}: ${clusterSize} NATS server(s), ${o.invokers} invokers, load for ${o.durationMs} ms (work folder ${dir})`);

    const kills: KillEvent[] = [];
    const sync: SyncSample[] = [];
    const asyncEntries: AsyncEntry[] = [];
    const refusals: string[] = [];
    const loadStart = Date.now();
    const invokerKills = () => kills.filter((k) => k.kind === 'invoker').length;
    const running = () => {
      const elapsed = Date.now() - loadStart;
      return elapsed < o.durationMs || (invokerKills() < o.minInvokerKills && elapsed < o.maxDurationMs);
    };

    const syncWorkers = Array.from({ length: o.syncConcurrency }, async () => {
      while (running()) sync.push(await sendSync(http, jobs.next(true), 60_000));
    });
    const asyncProducer = (async () => {
      const every = 1000 / o.asyncPerSecond;
      const pending: Promise<void>[] = [];
      for (let next = performance.now(); running(); next += every) {
        const job = jobs.next(false);
        pending.push(
          sendAsync(http, job, 30_000).then((r) => {
            if ('id' in r) asyncEntries.push({ id: r.id, job, state: 'queued', output: null, attempts: 0, completionMs: 0, acceptMs: r.acceptMs, queueMs: 0 });
            else refusals.push(r.error);
          }),
        );
        await sleep(Math.max(0, next + every - performance.now()));
      }
      await Promise.all(pending);
    })();
    const chaos = (async () => {
      while (running()) {
        if (o.scenario === Scenario.invokers) {
          await sleep(o.killEveryMs * (0.7 + Math.random() * 0.6));
          // never kill the last invoker: with every invoker dead, callers wait rather than fail over. On a busy
          // machine a replacement may need longer than the kill period to start; the kill then waits for it.
          while (running() && live.length < 2) await sleep(50);
          if (!running()) break;
          const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
          kills.push({ atMs: Date.now(), kind: 'invoker', target: victim.id });
          victim.child.kill('SIGKILL');
          say(`  killed ${victim.id} (${kills.length})`);
          void startInvoker().catch((err: unknown) => say(`  replacement failed: ${String(err)}`));
        } else {
          await sleep(o.natsKillEveryMs);
          if (!running()) break;
          const index = Math.floor(Math.random() * clusterSize);
          kills.push({ atMs: Date.now(), kind: 'nats', target: nats!.servers[index]!.name });
          await nats!.kill(index, 'SIGKILL');
          say(`  killed NATS server ${nats!.servers[index]!.name} (${kills.length})`);
          await sleep(2000);
          await nats!.restart(index);
          say(`  NATS server ${nats!.servers[index]!.name} back`);
        }
      }
    })();
    await Promise.all([...syncWorkers, asyncProducer, chaos]);
    const loadMs = Date.now() - loadStart;
    say(`load done: ${sync.length} sync, ${asyncEntries.length} async accepted; waiting for activations`);

    // every accepted activation must finish: poll until all did or settleMs passed
    const settleEnd = Date.now() + o.settleMs;
    let open = asyncEntries.filter((e) => e.state !== 'succeeded' && e.state !== 'failed');
    while (open.length > 0 && Date.now() < settleEnd) {
      for (let i = 0; i < open.length; i += 8) await Promise.all(open.slice(i, i + 8).map((e) => pollActivation(http, e)));
      open = asyncEntries.filter((e) => e.state !== 'succeeded' && e.state !== 'failed');
      if (open.length > 0) await sleep(250);
    }

    // stop the invokers before reading the audit, so it is complete
    await Promise.all([...children].map((c) => stopProcess(c)));
    const syncIds = new Set(sync.map((s) => s.invocationId).filter((id) => id !== ''));
    const asyncIds = new Set(asyncEntries.map((e) => e.id));
    const records = parseExecutionLog(readFileSync(audit, 'utf8'));
    const executions = analyseAudit(records, kills, new Set([...syncIds, ...asyncIds]));
    const worstRestart = (ids: Set<string>) => Math.max(0, ...analyseAudit(records, kills, ids).restartAfterKillMs);
    const lat = sync.map((s) => s.latencyMs);
    const done = asyncEntries.filter((e) => e.state === 'succeeded' || e.state === 'failed');
    const report: ChaosReport = {
      scenario: o.scenario,
      durationMs: loadMs,
      invokerKills: kills.filter((k) => k.kind === 'invoker').length,
      natsKills: kills.filter((k) => k.kind === 'nats').length,
      sync: {
        sent: sync.length,
        correct: sync.filter((s) => s.ok).length,
        wrong: sync.filter((s) => s.wrong).length,
        lost: sync.filter((s) => !s.ok && !s.wrong).length,
        failedOver: sync.filter((s) => s.attempts > 1).length,
        p50Ms: percentile(lat, 0.5),
        p99Ms: percentile(lat, 0.99),
        worstMs: Math.round(Math.max(0, ...lat)),
        worstFailoverMs: Math.max(0, ...sync.map((s) => s.failoverMs)),
        worstDetectMs: Math.max(0, ...sync.map((s) => s.detectMs)),
      },
      async: {
        sent: asyncEntries.length + refusals.length,
        refused: refusals.length,
        accepted: asyncEntries.length,
        succeeded: asyncEntries.filter((e) => e.state === 'succeeded' && e.output === e.job.expected).length,
        failed: asyncEntries.filter((e) => e.state === 'failed').length,
        wrong: asyncEntries.filter((e) => e.state === 'succeeded' && e.output !== e.job.expected).length,
        lost: asyncEntries.length - done.length,
        redelivered: asyncEntries.filter((e) => e.attempts > 1).length,
        p99AcceptMs: percentile(asyncEntries.map((e) => e.acceptMs), 0.99),
        worstAcceptMs: Math.round(Math.max(0, ...asyncEntries.map((e) => e.acceptMs))),
        p99QueueMs: percentile(done.map((e) => e.queueMs), 0.99),
        p99CompletionMs: percentile(done.map((e) => e.completionMs), 0.99),
        worstCompletionMs: Math.max(0, ...done.map((e) => e.completionMs)),
      },
      executions,
      worstRestartAfterKillMs: { sync: worstRestart(syncIds), async: worstRestart(asyncIds) },
      errors: [...sync.filter((s) => !s.ok).map((s) => s.error), ...refusals, ...asyncEntries.filter((e) => e.state === 'failed').map((e) => `activation ${e.id} failed`)].slice(0, 20),
      dir,
    };
    return report;
  } finally {
    await Promise.allSettled([...children].map((c) => stopProcess(c)));
    await nats?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The report as the lines `npm run chaos` prints. */
export function formatReport(r: ChaosReport): string {
  const e = r.executions;
  return [
    `scenario ${r.scenario}: ${(r.durationMs / 1000).toFixed(1)} s of load, ${r.invokerKills} invoker kills, ${r.natsKills} NATS server kills`,
    `  sync   sent ${r.sync.sent}  correct ${r.sync.correct}  wrong ${r.sync.wrong}  lost ${r.sync.lost}  failed over ${r.sync.failedOver}  latency p50 ${r.sync.p50Ms} ms  p99 ${r.sync.p99Ms} ms  worst ${r.sync.worstMs} ms`,
    `  async  sent ${r.async.sent}  accepted ${r.async.accepted}  succeeded ${r.async.succeeded}  failed ${r.async.failed}  wrong ${r.async.wrong}  lost ${r.async.lost}  refused ${r.async.refused}  redelivered ${r.async.redelivered}`,
    `         202 p99 ${r.async.p99AcceptMs} ms  worst ${r.async.worstAcceptMs} ms  queued → last start p99 ${r.async.p99QueueMs} ms  accepted → finished p99 ${r.async.p99CompletionMs} ms  worst ${r.async.worstCompletionMs} ms`,
    `  executions ${e.executions} of ${e.invocations} invocations: re-executions ${e.reExecutions} (after invoker death ${e.afterInvokerDeath}, after NATS kill ${e.afterNatsKill}, unexplained ${e.unexplained}), duplicate executions of finished invocations ${e.duplicatesOfFinished}`,
    `  failover: worst sync detection (silence before a re-send) ${r.sync.worstDetectMs} ms; worst kill → re-run started on another invoker: sync ${r.worstRestartAfterKillMs.sync} ms, async ${r.worstRestartAfterKillMs.async} ms; worst sync last sign of life → answer ${r.sync.worstFailoverMs} ms`,
    ...(r.errors.length > 0 ? [`  first errors: ${r.errors.slice(0, 5).join(' | ')}`] : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'all' },
      'duration-ms': { type: 'string', default: '30000' },
      concurrency: { type: 'string', default: '40' },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const saturate = values.scenario === 'saturate' || values.scenario === 'all';
  const scenarios: Scenario[] = values.scenario === 'all' ? [Scenario.invokers, Scenario.nats] : saturate ? [] : [values.scenario as Scenario];
  for (const s of scenarios) if (!(s in Scenario)) throw new Error(`Unknown scenario ${s}: invokers, nats, saturate or all`);
  let saturated: SaturateReport | null = null;
  if (saturate) {
    saturated = await runSaturate({ durationMs: Number(values['duration-ms']), concurrency: Number(values.concurrency), progress: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${formatSaturate(saturated)}\n`);
  }
  const reports: ChaosReport[] = [];
  for (const scenario of scenarios) {
    const report = await runChaos({ scenario, durationMs: Number(values['duration-ms']), keep: values.keep === true, progress: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${formatReport(report)}\n`);
    reports.push(report);
  }
  if (typeof values.json === 'string') writeFileSync(values.json, JSON.stringify(saturated === null ? reports : [...reports, saturated], null, 2));
  const bad = reports.some((r) => r.sync.wrong + r.sync.lost + r.async.wrong + r.async.lost + r.async.failed + r.executions.duplicatesOfFinished > 0) || (saturated !== null && saturated.failed + saturated.ranTwice > 0);
  process.exitCode = bad ? 1 : 0;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  });
}
