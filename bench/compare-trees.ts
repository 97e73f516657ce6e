/**
 * Before/after on one machine: the same measurements of two builds of hayate, in interleaved rounds
 * (A B A B …), each round a cluster (`hayate up`, one invoker, container tier off), its load generator and its
 * first calls all taken from the tree measured. For each: trivial calls/s over NATS (`InvocationClient`) and
 * over HTTP at a fixed concurrency, CPU ms per call by process (invoker with its threads, nats-server,
 * controller, this load generator), and the p50 of 10 first calls of never-seen modules sent right after
 * their deploy (NATS and HTTP).
 *
 *   npm run build:ts && node dist/bench/compare-trees.js [--rounds R] [--seconds S] [--concurrency C] TREE…
 *
 * A TREE is a checkout of hayate with its `dist/` and `build/examples/` built (e.g. `git worktree add
 * /tmp/before <commit>`, then `npm run gen:proto && npm run build:ts` there, `build/` linked or built).
 * Prints one JSON line per tree and round, then the medians.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { cpuMeter } from './cpu';
import { closedLoop, perSecond, quantiles } from './stats';

interface TreeApi {
  startLocalCluster: (o: { invokers: number; env: Record<string, string> }) => Promise<{ dir: string; http: string; nats: string; stop: () => Promise<void> }>;
  deploy: (http: string, name: string, module: Uint8Array, options?: Record<string, string>) => Promise<void>;
  exampleModule: (name: string) => Buffer;
  InvocationClient: new (nc: unknown, o: object) => { call: (r: { function: string; input: Uint8Array; args: string[] }) => Promise<{ response: { status: string } }>; close: () => void };
}

interface Rate {
  callsPerSecond: number;
  cpuMsPerCall: Record<string, number>;
}

function api(tree: string): TreeApi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (path: string) => require(join(tree, 'dist', path)) as Record<string, unknown>;
  return { ...load('services/common/local-cluster.js'), ...load('bench/hayate-api.js'), ...load('services/common/invocation-client.js') } as unknown as TreeApi;
}

/** The module with a custom section of its own: a new digest, so never seen by the cluster. */
function unseen(module: Buffer, tag: string): Buffer {
  const body = Buffer.concat([Buffer.from([1]), Buffer.from('x'), Buffer.from(`unseen-${tag}-${process.hrtime.bigint()}`)]);
  return Buffer.concat([module, Buffer.from([0, body.length]), body]);
}

/** Calls/s and CPU ms per call by process of `one` kept `concurrency` in flight for `seconds`, after a second of warm-up. */
async function rate(concurrency: number, seconds: number, pids: Record<string, number>, one: () => Promise<boolean>): Promise<Rate> {
  await closedLoop(concurrency, { ms: 1000 }, one);
  const meter = cpuMeter(Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, [pid]])));
  const loop = await closedLoop(concurrency, { ms: seconds * 1000 }, one);
  const cpu = meter.stop(loop.samples.length);
  return { callsPerSecond: perSecond(loop), cpuMsPerCall: Object.fromEntries(Object.entries(cpu.groups).map(([name, share]) => [name, share.ms_per_call])) };
}

async function measure(tree: string, seconds: number, concurrency: number) {
  const t = api(tree);
  const cluster = await t.startLocalCluster({ invokers: 1, env: { HAYATE_CONTAINERS: 'off', HAYATE_LOG_LEVEL: 'warn' } });
  const state = JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as { nats_pid: number; controller: { pid: number }; invokers: { pid: number }[] };
  const nc = await connect({ servers: cluster.nats });
  const client = new t.InvocationClient(nc, {});
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  const post = (path: string, body: Uint8Array) =>
    new Promise<boolean>((done) => {
      const req = http.request(new URL(path, cluster.http), { method: 'POST', agent }, (res) => res.resume().on('end', () => done(res.statusCode === 200)));
      req.on('error', () => done(false));
      req.end(body);
    });
  try {
    const upper = t.exampleModule('upper');
    await t.deploy(cluster.http, 'upper', upper, { policy: 'wasm' });
    const input = Buffer.from('hello, edge!    ');
    const pids = { invoker: state.invokers[0]!.pid, 'nats-server': state.nats_pid, controller: state.controller.pid };
    const nats = await rate(concurrency, seconds, pids, async () => (await client.call({ function: 'upper', input, args: [] })).response.status === 'OK');
    const overHttp = await rate(concurrency, seconds, pids, () => post('/v1/functions/upper/invoke', input));
    const first = { nats: [] as number[], http: [] as number[] };
    for (let i = 0; i < 10; i += 1) {
      await t.deploy(cluster.http, `first-n${i}`, unseen(upper, `n${i}`), { policy: 'wasm' });
      let t0 = performance.now();
      await nc.request(`hayate.v1.call.first-n${i}`, Buffer.from('hello'), { timeout: 10_000 });
      first.nats.push((performance.now() - t0) * 1000);
      await t.deploy(cluster.http, `first-h${i}`, unseen(upper, `h${i}`), { policy: 'wasm' });
      t0 = performance.now();
      await post(`/v1/functions/first-h${i}/invoke`, Buffer.from('hello'));
      first.http.push((performance.now() - t0) * 1000);
    }
    return { tree, nats, http: overHttp, firstCallP50Ms: { nats: quantiles(first.nats).p50 / 1000, http: quantiles(first.http).p50 / 1000 } };
  } finally {
    client.close();
    agent.destroy();
    await nc.close();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string', default: '2' }, seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' } } });
  const trees = positionals.map((p) => resolve(p));
  if (trees.length === 0) throw new Error('name at least one tree (a hayate checkout with dist/ built)');
  const rows: Awaited<ReturnType<typeof measure>>[] = [];
  for (let r = 0; r < Number(values.rounds); r += 1) {
    for (const tree of trees) {
      const row = await measure(tree, Number(values.seconds), Number(values.concurrency));
      rows.push(row);
      process.stdout.write(`${JSON.stringify(row)}\n`);
    }
  }
  for (const tree of trees) {
    const mine = rows.filter((x) => x.tree === tree);
    const med = (f: (x: (typeof mine)[number]) => number) => quantiles(mine.map(f)).p50;
    process.stdout.write(`median ${tree}: NATS ${med((x) => x.nats.callsPerSecond)} calls/s, HTTP ${med((x) => x.http.callsPerSecond)} calls/s, first call ${med((x) => x.firstCallP50Ms.nats * 1000) / 1000} ms NATS / ${med((x) => x.firstCallP50Ms.http * 1000) / 1000} ms HTTP\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`compare-trees: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
