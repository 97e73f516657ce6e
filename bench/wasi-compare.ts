/**
 * Why the WASI host is hayate's own (issue 13), measured: the C fixtures of test/fixtures/wasi run on
 * hayate's host, on @wasmer/wasi 1.2.2 and on node:wasi, each compared with its expected stdout and exit
 * code; then a trivial module (examples/upper) is run again and again on each, full cycle (new host,
 * instantiate, `_start`, read stdout), for the CPU and wall time per run. symlink-escape.c shows which
 * engine lets a guest symlink lead out of its sandbox.
 *
 * Each fixture, and each engine's timing, runs in a child process of its own (node:wasi has crashed the
 * process in long runs, and hangs in some fixtures), which prints one JSON line; a child that dies or hangs
 * fails its fixture.
 *
 *   node dist/bench/wasi-compare.js [--runs N]      (npm run bench:wasi; needs npm run build:examples)
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init as wasmerInit, WASI as WasmerWasi } from '@wasmer/wasi';
import { asBufferSource } from '../services/common/wasm-module';
import { Wasi } from '../services/invoker/executors/wasm/wasi/wasi';
import { buildFixture, fixtureDir } from '../test/helpers/c-fixtures';
import { exampleWasm } from '../test/helpers/paths';

const ENGINES = { hayate: "hayate's host", wasmer: '@wasmer/wasi 1.2.2', node: 'node:wasi' } as const;
type EngineName = keyof typeof ENGINES;

/** What every fixture runs with, as test/wasi-conformance.test.ts runs it. */
const ARGS = ['héllo wörld', '', 'two words'];
const ENV: Record<string, string> = { FX_EQ: 'a=b', FX_EMPTY: '', FX_PLAIN: 'p' };
const STDIN = Buffer.from('line one\nline two\n');
const EXIT_CODES: Record<string, number> = { 'exit-code': 42 };
/** node:wasi maps a host directory: this file lies beside it, outside the sandbox. */
const SECRET = 'outside-secret.txt';

interface Outcome {
  stdout: string;
  exitCode: number | null;
  error: string | null;
}

/** One engine: runs a module once with args, env and stdin, from a fresh filesystem with a /tmp. */
interface Engine {
  run(module: WebAssembly.Module, argv: string[], input: Buffer): Outcome;
  close(): void;
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

function hayate(): Engine {
  return {
    run(module, argv, input) {
      const wasi = new Wasi({ args: argv, env: ENV, fsLimitBytes: 64 << 20 });
      const instance = new WebAssembly.Instance(module, wasi.imports());
      wasi.stdio.input = input;
      wasi.stdio.stdout.limitBytes = 16 << 20;
      wasi.stdio.stderr.limitBytes = 1 << 20;
      const ended = wasi.start(instance);
      const stdout = Buffer.from(wasi.stdio.stdout.take()).toString();
      if (ended.kind === 'exited') return { stdout, exitCode: ended.exitCode, error: null };
      return { stdout, exitCode: null, error: ended.kind === 'trapped' ? ended.message : 'output limit' };
    },
    close() {},
  };
}

function wasmer(): Engine {
  return {
    run(module, argv, input) {
      const wasi = new WasmerWasi({ args: argv, env: ENV });
      try {
        wasi.fs.createDir('/tmp');
        const instance = wasi.instantiate(module, {});
        wasi.setStdinBuffer(input);
        const { exitCode, error } = started(() => wasi.start(instance));
        return { stdout: wasi.getStdoutString(), exitCode, error };
      } finally {
        wasi.free();
      }
    },
    close() {},
  };
}

/** Runs `_start` through an engine's `start`: its exit code, or the error it threw. */
function started(start: () => number): { exitCode: number | null; error: string | null } {
  try {
    return { exitCode: start(), error: null };
  } catch (err: unknown) {
    return { exitCode: null, error: message(err) };
  }
}

function node(): Engine {
  // required here, not imported at the top: node:wasi prints an ExperimentalWarning when it is loaded
  const { WASI: NodeWasi } = require('node:wasi') as typeof import('node:wasi');
  const base = mkdtempSync(join(tmpdir(), 'hayate-wasi-compare-'));
  writeFileSync(join(base, SECRET), 'host secret\n');
  const root = join(base, 'root');
  return {
    run(module, argv, input) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(join(root, 'tmp'), { recursive: true });
      writeFileSync(join(base, 'stdin'), input);
      const fds = [openSync(join(base, 'stdin'), 'r'), openSync(join(base, 'stdout'), 'w'), openSync(join(base, 'stderr'), 'w')] as const;
      try {
        const wasi = new NodeWasi({ version: 'preview1', args: argv, env: ENV, preopens: { '/': root }, stdin: fds[0], stdout: fds[1], stderr: fds[2], returnOnExit: true });
        const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports);
        const { exitCode, error } = started(() => wasi.start(instance));
        return { stdout: readFileSync(join(base, 'stdout'), 'utf8'), exitCode, error };
      } finally {
        for (const fd of fds) {
          try {
            closeSync(fd);
          } catch {
            // the guest closed it, and node:wasi closed the host descriptor with it
          }
        }
      }
    },
    close() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** A line a child prints: one fixture's verdict, or the timing. */
type Report = { kind: 'fixture'; name: string; pass: boolean; detail: string } | { kind: 'timing'; runs: number; cpuUs: number; wallUs: number; startCpuUs: number | null };

function print(r: Report): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** Runs `count` full cycles of `module`; CPU and wall microseconds per run. */
function time(engine: Engine, module: WebAssembly.Module, count: number): { cpuUs: number; wallUs: number } {
  for (let i = 0; i < Math.min(50, count); i += 1) engine.run(module, ['upper'], Buffer.from('hello'));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < count; i += 1) engine.run(module, ['upper'], Buffer.from('hello'));
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / count, wallUs: ((performance.now() - t0) * 1000) / count };
}

/** hayate's warm path in the worker: the instance is prepared ahead; a run pays `_start` and the output. */
function timeStart(module: WebAssembly.Module, count: number): number {
  let cpuUs = 0;
  for (let i = 0; i < count; i += 1) {
    const wasi = new Wasi({ args: ['upper'], env: {}, fsLimitBytes: 64 << 20 });
    const instance = new WebAssembly.Instance(module, wasi.imports());
    wasi.stdio.input = Buffer.from('hello');
    wasi.stdio.stdout.limitBytes = 1 << 20;
    const cpu0 = process.cpuUsage();
    wasi.start(instance);
    wasi.stdio.stdout.take();
    const cpu = process.cpuUsage(cpu0);
    if (i >= 50 || i === count - 1) cpuUs += cpu.user + cpu.system;
  }
  return cpuUs / Math.max(1, count - 50);
}

/** In a child: runs one fixture (`fixture`) or the timing (`fixture` null) on one engine. */
async function child(name: EngineName, fixture: string | null, runs: number): Promise<void> {
  if (name === 'wasmer') await wasmerInit();
  const engine = name === 'hayate' ? hayate() : name === 'wasmer' ? wasmer() : node();
  try {
    if (fixture !== null) {
      const module = new WebAssembly.Module(asBufferSource(buildFixture('wasi', fixture)));
      const expected = readFileSync(join(fixtureDir('wasi'), `${fixture}.stdout`), 'utf8');
      let r: Outcome;
      try {
        r = engine.run(module, [`wasi-${fixture}`, ...ARGS], STDIN);
      } catch (err: unknown) {
        r = { stdout: '', exitCode: null, error: message(err) };
      }
      const pass = r.stdout === expected && r.exitCode === (EXIT_CODES[fixture] ?? 0);
      const firstDiff = r.stdout.split('\n').find((line, i) => line !== expected.split('\n')[i]);
      const detail = r.error ?? (r.exitCode !== (EXIT_CODES[fixture] ?? 0) ? `exit ${r.exitCode}` : (firstDiff ?? ''));
      print({ kind: 'fixture', name: fixture, pass, detail: fixture === 'symlink-escape' ? r.stdout.split('\n').filter((l) => l.startsWith('open')).join(' | ') : detail });
      return;
    }
    const upper = new WebAssembly.Module(asBufferSource(readFileSync(exampleWasm('upper'))));
    const { cpuUs, wallUs } = time(engine, upper, runs);
    print({ kind: 'timing', runs, cpuUs, wallUs, startCpuUs: name === 'hayate' ? timeStart(upper, runs) : null });
  } finally {
    engine.close();
  }
}

function fixtureNames(): string[] {
  return readdirSync(fixtureDir('wasi'))
    .filter((f) => f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
    .sort();
}

/** Runs a child for one engine and one fixture (or the timing); resolves with what it printed and how it ended. */
function runChild(name: EngineName, fixture: string | null, runs: number, timeoutMs: number): Promise<{ reports: Report[]; ended: string }> {
  return new Promise((resolve) => {
    const args = ['--no-warnings', __filename, '--engine', name, '--runs', String(runs), ...(fixture === null ? [] : ['--fixture', fixture])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const reports = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Report);
      const last = err.split('\n').filter((l) => l.trim() !== '' && !/ExperimentalWarning|--trace-warnings/.test(l)).pop() ?? '';
      const ended = code === 0 ? 'ok' : signal === 'SIGKILL' ? `hung (killed after ${timeoutMs / 1000} s)` : `crashed (${signal ?? `exit ${code}`}${last === '' ? '' : `: ${last.slice(0, 80)}`})`;
      resolve({ reports, ended });
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string): string | null => (args.includes(name) ? (args[args.indexOf(name) + 1] ?? null) : null);
  const runs = Number(flag('--runs')) || 1000;
  const engine = flag('--engine') as EngineName | null;
  if (engine !== null) return child(engine, flag('--fixture'), runs);
  const names = fixtureNames();
  const rows: string[] = [];
  const notes: string[] = [];
  for (const name of Object.keys(ENGINES) as EngineName[]) {
    const failed: string[] = [];
    let passed = 0;
    for (const fixture of names) {
      const { reports, ended } = await runChild(name, fixture, runs, 20_000);
      const verdict = reports.find((r): r is Extract<Report, { kind: 'fixture' }> => r.kind === 'fixture');
      if (verdict?.pass === true) passed += 1;
      else failed.push(`${fixture} (${verdict === undefined ? ended : verdict.detail.slice(0, 100)})`);
      if (fixture === 'symlink-escape' && verdict !== undefined) notes.push(`- ${ENGINES[name]}, symlink-escape: ${verdict.detail}`);
    }
    const { reports, ended } = await runChild(name, null, runs, 300_000);
    const timing = reports.find((r): r is Extract<Report, { kind: 'timing' }> => r.kind === 'timing');
    const us = (n: number | null | undefined) => (n == null ? (timing === undefined ? ended : '—') : `${n.toFixed(0)} µs`);
    rows.push(`| ${ENGINES[name]} | ${passed}/${names.length} | ${us(timing?.cpuUs)} | ${us(timing?.wallUs)} | ${us(timing?.startCpuUs)} |`);
    notes.push(`- ${ENGINES[name]}: ${failed.length === 0 ? 'every fixture passes' : `fails ${failed.join('; ')}`}`);
  }
  console.log(`WASI engines on ${names.length} fixtures of test/fixtures/wasi (exact stdout and exit code); per run of examples/upper, full cycle, ${runs} runs, Node ${process.version}\n`);
  console.log('| engine | fixtures passed | CPU per run | wall per run | CPU per warm run (prepared instance) |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log('');
  for (const note of notes) console.log(note);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
