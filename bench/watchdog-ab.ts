/**
 * Before/after of a change to the container watchdog: the warm container call of the trivial `upper` over
 * NATS (`hayate.v1.call.upper`, policy container, sequential calls) through two watchdog binaries, each in a
 * cluster of its own (`hayate up`, one invoker, `HAYATE_WATCHDOG`=the binary), measured in interleaved rounds
 * (A B, B A, …). For each: e2e p50 at the caller, and the invoker's step figures from the answers (startup:
 * request read → the program running; exec: from there → reaped; total in the invoker).
 *
 *   npm run build:ts && node dist/bench/watchdog-ab.js [--rounds R] [--calls N] [--pause-ms P] BINARY_A BINARY_B
 *
 * `--pause-ms` waits P ms before each call (not measured): calls back to back meet the previous call's process
 * being spawned ahead (and torn down) on the same cores; calls P ms apart meet a quiet node.
 *
 * A binary of an earlier commit: `git show <commit>:services/invoker/executors/container/watchdog/watchdog.c
 * > /tmp/wd.c && gcc -O2 -static /tmp/wd.c -o /tmp/wd-before`. Needs Docker and the example images.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { InvocationClient } from '../services/common/invocation-client';
import { startLocalCluster } from '../services/common/local-cluster';
import { deploy, dockerForBench, exampleModule } from './hayate-api';
import { interleaved, pacedCalls, quantiles } from './stats';

const FN = 'upper';
const INPUT = Buffer.from('hello, edge!');

interface Side {
  binary: string;
  stop: () => Promise<void>;
  client: InvocationClient;
  close: () => Promise<void>;
  e2eUs: number[];
  startupUs: number[];
  execUs: number[];
  totalUs: number[];
}

async function side(binary: string): Promise<Side> {
  const cluster = await startLocalCluster({ invokers: 1, env: { HAYATE_LOG_LEVEL: 'warn', HAYATE_WATCHDOG: binary } });
  await deploy(cluster.http, FN, exampleModule(FN), { image: `hayate-example/${FN}:latest`, policy: 'container' });
  const nc = await connect({ servers: cluster.nats });
  const client = new InvocationClient(nc, {});
  return { binary, stop: () => cluster.stop(), client, close: () => (client.close(), nc.close()), e2eUs: [], startupUs: [], execUs: [], totalUs: [] };
}

/**
 * `calls` sequential calls, each `pauseMs` after the previous answer (the pause is not measured); their e2e p50
 * (µs). A failed call ends the run.
 */
async function round(s: Side, calls: number, record: boolean, pauseMs = 0): Promise<number> {
  const samples = await pacedCalls(calls, pauseMs, async () => {
    const { response: r } = await s.client.call({ function: FN, input: INPUT, args: [] });
    if (r.status !== 'OK') throw new Error(`${s.binary}: ${r.status} ${r.errorMessage}`);
    if (!record) return;
    s.startupUs.push(r.timings.startupUs);
    s.execUs.push(r.timings.execUs);
    s.totalUs.push(r.timings.totalUs);
  });
  if (record) s.e2eUs.push(...samples);
  return quantiles(samples).p50;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '6' }, calls: { type: 'string', default: '60' }, 'pause-ms': { type: 'string', default: '0' } } });
  if (positionals.length !== 2) throw new Error('usage: watchdog-ab [--rounds R] [--calls N] [--pause-ms P] BINARY_A BINARY_B');
  const probe = await dockerForBench();
  if (!('docker' in probe)) {
    process.stderr.write(`watchdog-ab: cannot run: ${probe.reason}\n`);
    process.exitCode = 1;
    return;
  }
  const sides: Side[] = [];
  try {
    for (const binary of positionals) sides.push(await side(resolve(binary))); // Docker mounts absolute paths only
    for (const s of sides) await round(s, 30, false); // container started, processes spawned ahead
    const keys = ['a', 'b'] as const;
    const spreads = await interleaved(keys, Number(values.rounds), (k) => round(sides[keys.indexOf(k)]!, Number(values.calls), true, Number(values['pause-ms'])));
    const ms = (us: number) => (us / 1000).toFixed(3);
    for (const [i, s] of sides.entries()) {
      const sp = spreads[keys[i]!];
      process.stdout.write(`${s.binary}: e2e p50 ${ms(quantiles(s.e2eUs).p50)} ms (round p50s ${ms(sp.min)}–${ms(sp.max)}), in the invoker: startup ${ms(quantiles(s.startupUs).p50)}, exec ${ms(quantiles(s.execUs).p50)}, total ${ms(quantiles(s.totalUs).p50)} ms\n`);
    }
  } finally {
    for (const s of sides) {
      await s.close();
      await s.stop();
    }
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`watchdog-ab: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
