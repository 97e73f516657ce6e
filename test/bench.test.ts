/**
 * `hayate bench` on a tiny plan: every code path of the quick run (floors, modes in interleaved rounds,
 * first calls, payload, concurrency over NATS and HTTP, deployed functions, invokers, targets, report and
 * charts) against a real cluster, checking that the report has every section and that figures are numbers.
 * No timing is asserted.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { controlFetch } from '../bench/hayate-api';
import { runBench } from '../bench/index';
import { pairedRatio } from '../bench/modes';
import { batchInterval, roundOrder } from '../bench/stats';
import type { BenchResults } from '../bench/index';

/** Every number in `value` (walking objects and arrays), with its path. */
function numbers(value: unknown, path = '$'): [string, number][] {
  if (typeof value === 'number') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => numbers(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => numbers(v, `${path}.${k}`));
  return [];
}

test('bench writes every section with numeric figures when run on a tiny plan', async (t) => {
  t.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'hayate-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // both in folders that do not exist yet: bench makes them
  const jsonFile = join(dir, 'json', 'results.json');
  const reportDir = join(dir, 'report');
  const plan = { warmupCalls: 5, warmupMs: 100, settleMs: 500, rounds: 2, roundCalls: 5, roundMs: 100, shortRounds: 2, minShortRounds: 1, shortMs: 100, shortCellMs: 5, shortHalfWidth: 0.02, dockerRunCalls: 0, floorCalls: 10, floorMs: 100, firstCallSamples: 2, payloads: [16, 65536], payloadMs: 100, levels: [1, 4], levelMs: 200, fleet: [1, 5], fleetSteadyRounds: 1, fleetSteadyMaxCalls: 20, invokers: [1, 2], invokerRounds: 2, invokerMs: 200, invokerConcurrency: 4 };
  const results = await runBench({ quick: true, invokers: 1, jsonFile, reportDir, progress: false, plan, tasks: ['upper 16 B'] }, { stderr: process.stderr });
  const report = readFileSync(join(reportDir, 'report.md'), 'utf8');
  for (const section of ['## Limits measured in the same run', '## Targets', '## Modes compared in interleaved rounds', '## First call of a never-seen module', '## Payload size', '## Concurrency', '## Deployed functions called round robin', '## Invokers on the node', '### upper 16 B', '## Charts']) {
    t.true(report.includes(section), `report has "${section}"`);
  }
  for (const chart of ['steps', 'throughput', 'payload', 'cold-warm']) t.true(existsSync(join(reportDir, 'charts', `${chart}.svg`)), `chart ${chart}`);
  const json = JSON.parse(readFileSync(jsonFile, 'utf8')) as BenchResults;
  t.deepEqual(Object.keys(json.dimensions).sort(), ['concurrency', 'first_call', 'functions', 'invokers', 'payload']);
  const d = results.dimensions;
  t.deepEqual(d.first_call.map((f) => f.transport), ['nats', 'http']);
  t.deepEqual(d.payload.map((r) => r.bytes), [16, 65536]);
  t.deepEqual(d.concurrency.map((r) => `${r.transport}@${r.concurrency}`), ['nats@1', 'http@1', 'nats@4', 'http@4']);
  t.deepEqual(d.functions.map((r) => r.functions), [1, 5]);
  t.is(d.functions[1]!.first.calls + d.functions[1]!.first.errors, 5, 'the first round calls each of the 5 functions once');
  t.deepEqual(d.invokers.map((r) => [r.invokers, r.calls_per_s.rounds.length]), [[1, 2], [2, 2]]);
  t.is(results.modes.length, 1);
  t.is(results.modes[0]!.p50_us.wasm?.rounds.length, 2, 'wasm measured in 2 rounds');
  const m0 = results.modes[0]!;
  if (m0.p50_us.hybrid !== undefined) {
    // hybrid ÷ best comes from the short rounds of the two alone
    t.true((m0.short_rounds?.rounds ?? 0) >= 1, 'short rounds were run');
    t.deepEqual(Object.keys(m0.short_rounds?.p50_us ?? {}).sort(), ['hybrid', m0.best_single!].sort());
    t.is(m0.hybrid_vs_best, Number(((m0.short_rounds!.p50_us.hybrid ?? 0) / (m0.short_rounds!.p50_us[m0.best_single!] ?? 1)).toFixed(3)));
  }
  for (const r of d.concurrency) t.true(r.cpu.total.ms_per_call >= 0 && 'load generator' in r.cpu.groups, `${r.transport}@${r.concurrency} has CPU per process`);
  t.true(d.concurrency.filter((r) => r.transport === 'http').every((r) => 'controller' in r.cpu.groups), 'HTTP cells count the controller');
  t.true(results.targets.length >= 5, `${results.targets.length} targets`);
  t.true(results.targets.some((x) => x.name.includes('first call of a never-seen module over `hayate.v1.call`')));
  t.true(report.includes('| target | goal | measured | against | |'));
  // the cross-process floor: a responder process of its own, measured back to back and after idle
  t.true((results.limits.nats_rtt_process_us?.p50 ?? 0) > 0 && (results.limits.nats_rtt_process_idle_us?.p50 ?? 0) > 0, 'round trips to another process measured');
  t.true(report.includes('the same to a responder in another process'));
  t.true(results.targets.filter((x) => x.name.startsWith('first call of a never-seen module')).every((x) => x.floor.includes('to another process')));
  const bad = numbers(json).filter(([, n]) => !Number.isFinite(n));
  t.deepEqual(bad, [], 'every figure is a finite number');
  t.true(d.concurrency.every((r) => r.calls > 0), 'every concurrency cell made calls');
});

test('hybrid ÷ best over the long rounds is the median of per-round ratios, so a machine drifting over the rounds cancels out', (t) => {
  // both modes twice as fast by the end of the run, hybrid 2 % slower than wasm in every round
  const wasm = [1.4, 1.2, 1.0, 0.8, 0.7];
  const hybrid = wasm.map((v) => v * 1.02);
  t.is(pairedRatio(hybrid, wasm), 1.02);
  // a round with a missing figure is left out, not counted as 0
  t.is(pairedRatio([1, 0, 3], [1, 2, 2]), 1);
  t.is(pairedRatio([], []), 0);
});

test('interleaved rounds put every mode right after every other equally often over two cycles', (t) => {
  const modes = ['hybrid', 'wasm', 'container'];
  const follows = new Map<string, number>();
  for (let round = 0; round < 2 * modes.length; round += 1) {
    const order = roundOrder(modes, round);
    t.deepEqual([...order].sort(), [...modes].sort(), `round ${round} has each mode once`);
    for (let i = 1; i < order.length; i += 1) follows.set(`${order[i - 1]}→${order[i]}`, (follows.get(`${order[i - 1]}→${order[i]}`) ?? 0) + 1);
  }
  t.is(follows.size, 6, 'every ordered pair occurs');
  t.deepEqual(new Set(follows.values()), new Set([2]), 'each exactly twice');
});

test('batchInterval holds the true ratio of two p50s and narrows as rounds are added', (t) => {
  // b's calls drift slowly over the run; a is the same calls 3 % slower, with its own jitter
  let seed = 7;
  const rand = () => ((seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647);
  const round = (i: number): [number[], number[]] => {
    const base = 1000 * (1 + 0.3 * Math.sin(i / 7));
    const cell = (f: number) => Array.from({ length: 20 }, () => base * f * (0.8 + 0.4 * rand()));
    return [cell(1.03), cell(1)];
  };
  const few = Array.from({ length: 16 }, (_, i) => round(i));
  const many = Array.from({ length: 256 }, (_, i) => round(i));
  const a = batchInterval(few, 8);
  const b = batchInterval(many, 8);
  t.true(a.low < 1.03 && 1.03 < a.high, `16 rounds: ${a.low}–${a.high}`);
  t.true(b.low < 1.03 && 1.03 < b.high, `256 rounds: ${b.low}–${b.high}`);
  t.true(b.high - b.low < a.high - a.low, 'more rounds, a narrower interval');
  t.deepEqual(batchInterval(few.slice(0, 4), 8), { low: 0, high: 0 }, 'fewer rounds than blocks: none');
});

test('the bench sends a control request again when a connection closes before its answer, and names the cause when every try fails', async (t) => {
  // the first `drops` requests get their connection closed with no answer, as a kept-alive socket the
  // controller closes as the request arrives; then 200
  let drops = 2;
  let seen = 0;
  const server = createServer((req, res) => {
    seen += 1;
    if (drops > 0) {
      drops -= 1;
      req.socket.destroy();
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/status`);
  const res = await controlFetch(url);
  t.is(await res.text(), 'ok');
  t.is(seen, 3, 'two dropped tries, then the answer');
  drops = 3;
  const err = await t.throwsAsync(controlFetch(url, { method: 'PUT', body: new Uint8Array([1, 2, 3]) }));
  t.regex(err?.message ?? '', /^PUT \/v1\/status got no answer in 3 tries: fetch failed: .+/);
  // an HTTP answer is not a failure to retry, whatever its status
  server.removeAllListeners('request');
  server.on('request', (_req, res) => {
    seen += 1;
    res.statusCode = 503;
    res.end();
  });
  const before = seen;
  t.is((await controlFetch(url)).status, 503);
  t.is(seen, before + 1);
});
