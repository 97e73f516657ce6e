/**
 * Two figures for triggers and logs, each against the same run without the feature, in interleaved rounds
 * (A B A B …) on one embedded cluster (`hayate up` on free ports):
 *
 * 1. Trigger throughput: N messages published on a trigger's subject, from the first publish until the
 *    trigger's stream is empty (every message run, its activation stored, acknowledged) — against the same
 *    N invocations put straight on the async work queue (`hayate.v1.async.<fn>`), which the same invokers
 *    serve with the same exactly-once path, without a trigger.
 * 2. Per-call cost of logging: sequential calls on `<prefix>.v1.call.<fn>` to an invoker publishing logs
 *    and to one with `HAYATE_LOGS=off` (two invoker processes, two subject prefixes, one NATS; A B then B A), with the
 *    function writing one stderr line per call: wall time per call and the invoker's CPU time per call
 *    (from /proc/<pid>/stat).
 *
 * Usage: node dist/bench/triggers-logs.js [--rounds R] [--messages N] [--calls C] [--subjects S] [--concurrency K]
 * The machine is shared and noisy: read the spread between rounds before the difference of the means.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import { encodeInvokeRequest } from '../services/common/codec';
import { startLocalCluster } from '../services/common/local-cluster';
import { startInvoker } from '../services/cli/up';
import { EventsClient } from '../services/cli/events-client';
import { exampleModule } from './hayate-api';
import { stopChild } from '../services/common/child-process';
import { quantiles, usSince } from './stats';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const spread = (xs: readonly number[]) => `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`;

/** User + system CPU time of a process, µs. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
}

/** Waits until a stream holds no message (a work queue: all acknowledged); returns ms since `t0`. */
async function drained(nc: NatsConnection, stream: string, t0: number): Promise<number> {
  const jsm = await nc.jetstreamManager();
  for (;;) {
    const info = await jsm.streams.info(stream);
    if (info.state.messages === 0) return performance.now() - t0;
    await sleep(5);
  }
}

async function publishAll(nc: NatsConnection, n: number, subject: (i: number) => string, data: (i: number) => Uint8Array, msgId?: (i: number) => string): Promise<void> {
  const js = nc.jetstream();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += 1) {
    pending.push(js.publish(subject(i), data(i), msgId === undefined ? {} : { msgID: msgId(i) }));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '4' }, messages: { type: 'string', default: '400' }, calls: { type: 'string', default: '400' }, subjects: { type: 'string', default: '8' }, concurrency: { type: 'string', default: '16' } } });
  const rounds = Number(values.rounds);
  const messages = Number(values.messages);
  const calls = Number(values.calls);
  const subjects = Number(values.subjects);
  const concurrency = Number(values.concurrency);
  const cluster = await startLocalCluster({ invokers: 0, env: { HAYATE_LOG_LEVEL: 'error' } });
  const env = { ...process.env, HAYATE_LOG_LEVEL: 'error', HAYATE_WORKERS: '2', HAYATE_ASYNC_CONCURRENCY: '4' };
  const on = await startInvoker(cluster.nats, 'bench-logs-on', [], env);
  const off = await startInvoker(cluster.nats, 'bench-logs-off', [], { ...env, HAYATE_PREFIX: 'nologs', HAYATE_LOGS: 'off' });
  const nc = await connect({ servers: cluster.nats });
  try {
    const client = new EventsClient(cluster.http);
    await client.deploy('upper', exampleModule('upper'));
    await client.deploy('echo', exampleModule('env-echo'));
    await client.putTrigger('bench', { function: 'upper', subject: 'bench.in.*', concurrency });;
    const enc = new TextEncoder();
    process.stderr.write(`trigger throughput: ${rounds} rounds of ${messages} messages each way\n`);
    const trig: number[] = [];
    const direct: number[] = [];
    let seq = 0;
    for (let r = 0; r < rounds; r += 1) {
      let t0 = performance.now();
      await publishAll(nc, messages, (i) => `bench.in.${i % subjects}`, (i) => enc.encode(`reading ${i}`));
      trig.push((messages / (await drained(nc, 'HAYATE_TRIGGER_bench', t0))) * 1000);
      t0 = performance.now();
      const base = seq;
      seq += messages;
      await publishAll(nc, messages, () => 'hayate.v1.async.upper', (i) => encodeInvokeRequest({ invocationId: `bench-${process.pid}-${base + i}`, function: 'upper', input: enc.encode(`reading ${i}`), args: [], env: {}, timeoutMs: 0, deadlineUnixMs: 0, attempt: 0 }), (i) => `bench-${process.pid}-${base + i}`);
      direct.push((messages / (await drained(nc, 'HAYATE_ASYNC', t0))) * 1000);
      process.stderr.write(`  round ${r + 1}: trigger ${Math.round(trig[r]!)} msg/s, async queue ${Math.round(direct[r]!)} msg/s\n`);
    }

    // the invoker on the other prefix watches the same triggers bucket and keeps looking for a stream of its
    // prefix for this trigger: remove it, so that its CPU time is its calls'
    await client.removeTrigger('bench');
    process.stderr.write(`logging cost: ${rounds} rounds of ${calls} sequential calls each way\n`);
    const call = async (prefix: string) => {
      const r = await nc.request(`${prefix}.v1.call.echo`, enc.encode('x'), { timeout: 10_000 });
      if (r.headers?.get('Hayate-Status') !== 'OK') throw new Error(`call on ${prefix} answered ${r.headers?.get('Hayate-Status')}`);
    };
    // the same warm-up for both: the invoker that served phase 1 is otherwise further along V8's tier-up
    for (let i = 0; i < calls; i += 1) await Promise.all([call('hayate'), call('nologs')]);
    const wall: Record<string, number[]> = { hayate: [], nologs: [] };
    const p50: Record<string, number[]> = { hayate: [], nologs: [] };
    const cpu: Record<string, number[]> = { hayate: [], nologs: [] };
    for (let r = 0; r < rounds; r += 1) {
      // A B, then B A: what one side leaves behind (deferred publishing, GC) lands on each side in turn
      const sides = [['hayate', on.child.pid!], ['nologs', off.child.pid!]] as const;
      for (const [prefix, pid] of r % 2 === 0 ? sides : [...sides].reverse()) {
        const samples: number[] = [];
        const c0 = cpuUs(pid);
        const t0 = performance.now();
        for (let i = 0; i < calls; i += 1) {
          const s = performance.now();
          await call(prefix);
          samples.push(usSince(s));
        }
        wall[prefix]!.push(usSince(t0) / calls);
        cpu[prefix]!.push((cpuUs(pid) - c0) / calls);
        p50[prefix]!.push(quantiles(samples).p50);
      }
      process.stderr.write(`  round ${r + 1}: logs on ${Math.round(wall['hayate']![r]!)} µs/call (cpu ${Math.round(cpu['hayate']![r]!)}), off ${Math.round(wall['nologs']![r]!)} µs/call (cpu ${Math.round(cpu['nologs']![r]!)})\n`);
    }
    const out = [
      `Trigger throughput (upper, ${messages} messages per round on ${subjects} subjects, ${rounds} rounds, 1 invoker, 2 workers, 4 pull loops, trigger concurrency ${concurrency}):`,
      `  through a subject trigger   ${Math.round(mean(trig))} msg/s (rounds ${spread(trig)})`,
      `  straight on the async queue ${Math.round(mean(direct))} msg/s (rounds ${spread(direct)})`,
      `Per-call cost of logging (env-echo: 1 stderr line + 1 summary per call, ${calls} sequential calls per round, ${rounds} rounds):`,
      `  logs on   ${Math.round(mean(wall['hayate']!))} µs/call wall (p50 ${Math.round(mean(p50['hayate']!))} µs), invoker CPU ${Math.round(mean(cpu['hayate']!))} µs/call (rounds ${spread(cpu['hayate']!)})`,
      `  logs off  ${Math.round(mean(wall['nologs']!))} µs/call wall (p50 ${Math.round(mean(p50['nologs']!))} µs), invoker CPU ${Math.round(mean(cpu['nologs']!))} µs/call (rounds ${spread(cpu['nologs']!)})`,
      'The machine is shared (2 cores, other sessions running): compare the spread of rounds with the difference.',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await nc.close();
    await Promise.allSettled([stopChild(on.child), stopChild(off.child)]);
    await cluster.stop();
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
