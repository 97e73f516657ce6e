/**
 * Pre-spawn in the container tier: the watchdog spawns the next process of a function ahead (exec'd,
 * blocked on its stdin) and the invoker keeps its connections to the watchdog. Fresh process per call,
 * each answer its own, args and env per call, nothing lost when a process is killed from outside, and
 * nothing left behind on shutdown. Twice: the watchdog run on this host as a plain process (its own
 * cleanup shows: no PID 1 namespace to end the leftovers), and warm containers behind a real invoker.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type Docker from 'dockerode';
import { InvocationClient } from '../services/common/invocation-client';
import { DEFAULT_WATCHDOG } from '../services/common/docker-probe';
import { WatchdogClient, watchdogPing } from '../services/invoker/executors/container/watchdog-client';
import type { WatchdogRequest } from '../services/invoker/executors/container/watchdog-client';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { containersOf, dockerMissingReason, dockerOrReason, withDocker } from './helpers/docker';
import { StatusName } from '../services/common/errors';
import { exampleWasm, ROOT } from './helpers/paths';
import type { Proc } from './helpers/process';
import { descendants, exited, readsStdin, running } from './helpers/process';

const test = anyTest as TestFn<{ cluster?: Cluster; docker?: Docker }>;
/** Container tests: skipped with the reason when Docker cannot run here, failed when it cannot under CI=true. */
const dockerTest = withDocker(test.serial);
const IMAGE = `hayate-test/probe:${process.pid}`;
const PROBE_DIR = join(ROOT, 'build', 'test-fixtures', 'probe');
const PROBE = join(PROBE_DIR, 'probe');
/** probe's answer: "pid=<pid> args=<a,b> env=<$PROBE> in=<INPUT>". */
const ANSWER = /^pid=(\d+) args=(\S*) env=(\S+) in=(.*)\n$/s;

/** Builds the static probe program (test/fixtures/container/probe.c). */
function buildProbe(): void {
  mkdirSync(PROBE_DIR, { recursive: true });
  execFileSync('gcc', ['-O2', '-static', join(ROOT, 'test', 'fixtures', 'container', 'probe.c'), '-o', PROBE]);
}

/** The probe in a FROM scratch image (no registry needed). */
function buildImage(): void {
  writeFileSync(join(PROBE_DIR, 'Dockerfile'), 'FROM scratch\nCOPY probe /probe\nENTRYPOINT ["/probe"]\n');
  execFileSync('docker', ['build', '-q', '--label', 'hayate.test=probe', '-t', IMAGE, PROBE_DIR], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'ignore', 'pipe'] });
}

test.before(async (t) => {
  buildProbe();
  if (dockerMissingReason() !== null) return; // the Docker tests are declared skipped (or failing under CI)
  const probe = await dockerOrReason();
  if (!('docker' in probe)) throw new Error(probe.reason);
  t.context.docker = probe.docker;
  buildImage();
  t.context.cluster = await startCluster({ invokers: 1 });
  const upper = readFileSync(exampleWasm('upper')); // the WASM twin is never used: policy container
  await t.context.cluster.client.deploy('probe', upper, { image: IMAGE, policy: 'container', arg: ['spec'], env: ['PROBE=spec'] });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
  if (t.context.docker !== undefined) await t.context.docker.getImage(IMAGE).remove({ force: true }).catch(() => undefined);
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, patienceMs = 20_000): Promise<T> {
  const end = Date.now() + patienceMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(20);
  }
}

interface HostWatchdog {
  child: ChildProcess;
  client: WatchdogClient;
  socket: string;
  dir: string;
}

/** The watchdog run on this host around the probe (or `program`), as a plain process (a subreaper, not PID 1). */
async function startWatchdog(t: ExecutionContext<unknown>, program = PROBE): Promise<HostWatchdog> {
  const dir = mkdtempSync(join(tmpdir(), 'hayate-prespawn-'));
  const socket = join(dir, 'sock');
  const child = spawn(DEFAULT_WATCHDOG, ['--socket', socket, '--', program], { stdio: 'ignore' });
  const w = { child, client: new WatchdogClient(socket), socket, dir };
  t.teardown(async () => {
    w.client.close();
    const left = child.pid === undefined ? [] : descendants(child.pid);
    if (child.exitCode === null && child.signalCode === null) {
      const exit = exited(child);
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(5000)]);
    }
    for (const p of [...left, { pid: child.pid ?? 0 }]) if (p.pid > 0 && running(p.pid)) process.kill(p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await until('the watchdog socket', () => watchdogPing(socket).then(() => true, () => undefined));
  return w;
}

const request = (input: string, args: string[] = [], env: Record<string, string> = {}): WatchdogRequest => ({ args, env, input: Buffer.from(input), timeoutMs: 30_000, maxOutputBytes: 0, maxStderrBytes: 0 });

/** Calls through the watchdog; checks the answer holds the call's own args, env and input; its pid. */
async function probeCall(t: ExecutionContext<unknown>, w: HostWatchdog, input: string, args: string[] = [], env: Record<string, string> = {}): Promise<number> {
  const r = await w.client.call(request(input, args, env));
  t.is(r.outcome, 'exited', r.stderr.toString());
  const m = ANSWER.exec(r.stdout.toString());
  t.truthy(m, r.stdout.toString());
  t.deepEqual(m?.slice(2), [args.join(','), env['PROBE'] ?? '-', input.toUpperCase()]);
  return Number(m?.[1]);
}

/** The probe processes waiting under the watchdog (spawned ahead: no call is in flight). */
const waiting = (w: HostWatchdog): Proc[] => descendants(w.child.pid!).filter((p) => p.cmd[0] === PROBE && p.state !== 'Z');

test('watchdog answers each of many concurrent calls with its own input from a fresh process when processes are spawned ahead', async (t) => {
  const w = await startWatchdog(t);
  const seq: number[] = [];
  for (let i = 0; i < 10; i += 1) seq.push(await probeCall(t, w, `seq ${i}`));
  t.true(waiting(w).length >= 1, 'a process waits spawned ahead after a call');
  const inputs = Array.from({ length: 64 }, (_, i) => `call ${i} ${randomBytes(4).toString('hex')}`);
  const pids = await Promise.all(inputs.map((input) => probeCall(t, w, input)));
  t.is(new Set([...seq, ...pids]).size, seq.length + pids.length, 'every call ran in a process of its own');
});

test('watchdog runs each call with its own args and env when they differ from those of the process spawned ahead', async (t) => {
  const w = await startWatchdog(t);
  const shapes: [string[], Record<string, string>][] = [[[], {}], [['a', 'b'], { PROBE: 'x' }], [[], {}], [['a'], {}], [[], { PROBE: 'y' }], [[], {}], [[], {}]];
  for (let round = 0; round < 3; round += 1) for (const [i, [args, env]] of shapes.entries()) await probeCall(t, w, `r${round} s${i}`, args, env);
  await Promise.all(Array.from({ length: 3 }, () => shapes).flat().map(([args, env], i) => probeCall(t, w, `mixed ${i}`, args, env)));
  // one spawned ahead for other args or env was killed, not left waiting: at most one per handler
  const handlers = descendants(w.child.pid!).filter((p) => p.cmd[0] === DEFAULT_WATCHDOG);
  t.true(waiting(w).length <= handlers.length, `${waiting(w).length} processes wait for ${handlers.length} handlers`);
});

test('watchdog answers the next calls when its processes spawned ahead are SIGKILLed from outside', async (t) => {
  const w = await startWatchdog(t);
  for (let i = 0; i < 6; i += 1) await probeCall(t, w, `warm ${i}`);
  for (let round = 0; round < 3; round += 1) {
    const ahead = await until('a process spawned ahead', () => (waiting(w).length > 0 ? waiting(w) : undefined));
    // a process answered from its exit stop shows state "t" until its handler reaps it: gone by now is fine
    for (const p of ahead) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch (err: unknown) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
    await until('the killed processes reaped', () => (ahead.every((p) => !existsSync(`/proc/${p.pid}`)) ? true : undefined));
    for (let i = 0; i < 4; i += 1) {
      const pid = await probeCall(t, w, `after kill ${round} ${i}`);
      t.false(ahead.some((p) => p.pid === pid), 'a killed process never answers');
    }
    await Promise.all(Array.from({ length: 8 }, (_, i) => probeCall(t, w, `after kill ${round} concurrent ${i}`)));
  }
});

test('watchdog answers SIGKILL for a call whose process is killed mid-call and serves the next calls', async (t) => {
  const w = await startWatchdog(t);
  await probeCall(t, w, 'before');
  const slow = w.client.call(request('slow', ['sleep']));
  const victim = await until('the sleeping probe', () => descendants(w.child.pid!).find((p) => p.cmd[1] === 'sleep' && p.state !== 'Z'));
  process.kill(victim.pid, 'SIGKILL');
  const r = await slow;
  t.is(r.outcome, 'signaled');
  t.is(r.signal, 9);
  for (let i = 0; i < 5; i += 1) await probeCall(t, w, `after ${i}`);
});

test('watchdog stopped with SIGTERM leaves no process behind when processes wait spawned ahead on kept connections', async (t) => {
  const w = await startWatchdog(t);
  await Promise.all(Array.from({ length: 8 }, (_, i) => probeCall(t, w, `before stop ${i}`)));
  for (let i = 0; i < 4; i += 1) await probeCall(t, w, `sequential ${i}`);
  const before = descendants(w.child.pid!);
  t.true(before.some((p) => p.cmd[0] === PROBE), 'a process waits spawned ahead');
  // the client keeps its idle connections open: the watchdog must not wait for them
  const exit = exited(w.child);
  w.child.kill('SIGTERM');
  t.deepEqual(await exit, { code: 0, signal: null });
  await until('every process of the watchdog gone', () => (before.every((p) => !running(p.pid)) ? true : undefined), 10_000).catch(() => undefined);
  t.deepEqual(before.filter((p) => running(p.pid)).map((p) => p.cmd.join(' ')), []);
});

/** Processes spawned ahead for `args` in a ptrace stop (state "t"). */
const tracedStopped = (w: HostWatchdog, args: string[]) => waiting(w).filter((p) => p.cmd.slice(1).join(',') === args.join(',') && p.state === 't');

/**
 * A process spawned ahead for `args` that waits stopped at its first instruction: in a ptrace stop and still
 * there 50 ms later. A process killed for its failed run-ahead passes through its exit stop (also state "t")
 * only for as long as its handler takes to reap it.
 */
async function stoppedAhead(w: HostWatchdog, args: string[]): Promise<Proc | undefined> {
  const seen = tracedStopped(w, args);
  if (seen.length === 0) return undefined;
  await sleep(50);
  const still = new Set(tracedStopped(w, args).map((p) => p.pid));
  return seen.find((p) => still.has(p.pid));
}

// a short run's output is read once it ends (watchdog.c, "Quiet window"): one larger than a pipe holds must
// still come whole, the process waiting for its first read meanwhile
test('watchdog answers whole outputs larger than its pipes hold, and small ones, from processes spawned ahead', async (t) => {
  const upper = join(ROOT, 'build', 'examples', 'upper', 'upper');
  if (!existsSync(upper)) return t.fail(`the upper example is not built at ${upper} (npm run build:examples)`);
  const w = await startWatchdog(t, upper);
  for (const size of [16, 1 << 20, 100, 200_000, 5]) {
    const input = randomBytes(size).toString('base64url').slice(0, size);
    const r = await w.client.call(request(input));
    t.is(r.outcome, 'exited', r.stderr.toString());
    t.is(r.stdout.length, size);
    t.true(r.stdout.equals(Buffer.from(input.toUpperCase())), `output of a ${size}-byte call`);
  }
});

test('watchdog answers spawn-failed with exit code 127 for every call when its program does not exist', async (t) => {
  const w = await startWatchdog(t, join(tmpdir(), `hayate-no-such-program-${process.pid}`));
  for (const args of [[], [], ['other']]) {
    const r = await w.client.call(request('x', args));
    t.is(r.outcome, 'spawn-failed');
    t.is(r.exitCode, 127);
    t.regex(r.stderr.toString(), /cannot spawn .*No such file or directory/);
  }
});

test('watchdog lets a process spawned ahead run its start-up until it blocks reading its stdin, and feeds it its call', async (t) => {
  const w = await startWatchdog(t);
  for (let i = 0; i < 3; i += 1) await probeCall(t, w, `seq ${i}`);
  const ahead = await until('a process spawned ahead blocked on its stdin', () => waiting(w).find((p) => readsStdin(p.pid)));
  const pids = [];
  for (let i = 0; i < 5; i += 1) pids.push(await probeCall(t, w, `after ${i}`));
  t.true(pids.includes(ahead.pid), 'the process that waited on its stdin served a call');
  const inputs = Array.from({ length: 24 }, (_, i) => `ahead ${i} ${randomBytes(4).toString('hex')}`);
  const concurrent = await Promise.all(inputs.map((input) => probeCall(t, w, input)));
  t.is(new Set([...pids, ...concurrent]).size, pids.length + concurrent.length, 'every call ran in a process of its own');
});

const notQuiescent = [
  [['spin'], 'computes 200 ms of CPU before it reads its stdin'],
  [['child'], 'starts a child process before it reads its stdin'],
  [['noinput'], 'never reads its stdin'],
] as const;
for (const [args, what] of notQuiescent) {
  test(`watchdog answers every call of a program that ${what}, and stops letting its processes run ahead`, async (t) => {
    const w = await startWatchdog(t);
    for (let i = 0; i < 3; i += 1) {
      const r = await w.client.call(request(`${args[0]} ${i}`, [...args]));
      t.is(r.outcome, 'exited', r.stderr.toString());
      const m = ANSWER.exec(r.stdout.toString());
      t.deepEqual(m?.slice(2), [args.join(','), '-', args[0] === 'noinput' ? '' : `${args[0]} ${i}`.toUpperCase()], r.stdout.toString());
    }
    // its run-ahead failed (busy past 20 ms of CPU, not alone, or ended before its call): the next one waits at its first instruction
    const stopped = await until('a process spawned ahead stopped at its first instruction', () => stoppedAhead(w, [...args]));
    await sleep(100);
    t.true(tracedStopped(w, [...args]).some((p) => p.pid === stopped.pid), 'it stays stopped until its call');
    const r = await w.client.call(request('last', [...args]));
    t.is(r.outcome, 'exited');
    t.regex(r.stdout.toString(), ANSWER);
  });
}

/**
 * How a process run ahead ends after its answer, as the watchdog reports it: from its exit stop when it is alone
 * there (docs/isolation.md, "Exit stop"), else once reaped (a child or a thread of it still there). The child of
 * `late` writes 2 s after its parent ended: its group is killed first, so it never does.
 */
const endings = [
  [['exit3'], 'exits 3', { outcome: 'exited', exitCode: 3, signal: 0 }],
  [['abort'], 'is killed by SIGABRT', { outcome: 'signaled', exitCode: 134, signal: 6 }],
  [['usr1'], 'raises a signal it handles', { outcome: 'exited', exitCode: 0, signal: 0 }],
  [['late'], 'leaves a child that would write later', { outcome: 'exited', exitCode: 0, signal: 0 }],
  [['thread'], 'leaves a thread running', { outcome: 'exited', exitCode: 0, signal: 0 }],
] as const;
for (const [args, what, want] of endings) {
  test(`watchdog reports how each process run ahead ends when it ${what}, and runs the next ones ahead`, async (t) => {
    const w = await startWatchdog(t);
    for (let i = 0; i < 6; i += 1) {
      const r = await w.client.call(request(`${args[0]} ${i}`, [...args]));
      t.deepEqual({ outcome: r.outcome, exitCode: r.exitCode, signal: r.signal }, want, r.stderr.toString());
      t.deepEqual(ANSWER.exec(r.stdout.toString())?.slice(2), [args.join(','), '-', `${args[0]} ${i}`.toUpperCase()], r.stdout.toString());
    }
    t.truthy(await until('a process spawned ahead blocked on its stdin', () => waiting(w).find((p) => readsStdin(p.pid))));
  });
}

test('watchdog answers a program that execs itself before it reads its stdin or after, and runs the next ones ahead', async (t) => {
  const w = await startWatchdog(t);
  for (let i = 0; i < 4; i += 1) {
    const early = await w.client.call(request(`early ${i}`, ['reexec-early']));
    t.is(early.outcome, 'exited', early.stderr.toString());
    t.deepEqual(ANSWER.exec(early.stdout.toString())?.slice(2), ['', '-', `EARLY ${i}`], early.stdout.toString());
  }
  // its exec while it ran ahead did not end its run-ahead
  t.truthy(await until('a process spawned ahead blocked on its stdin', () => waiting(w).find((p) => readsStdin(p.pid))));
  for (let i = 0; i < 4; i += 1) {
    const late = await w.client.call(request(`late ${i}`, ['reexec']));
    t.is(late.outcome, 'exited', late.stderr.toString());
    t.deepEqual(ANSWER.exec(late.stdout.toString())?.slice(2), ['noinput', '-', `LATE ${i}`], late.stdout.toString());
  }
});

// ---- warm containers behind a real invoker ----

/** The host pids and command lines of the processes in the invoker's warm container of `probe`. */
async function containerProcesses(t: ExecutionContext<{ cluster?: Cluster; docker?: Docker }>): Promise<{ pid: number; cmd: string }[]> {
  const { cluster, docker } = t.context;
  const [info] = (await containersOf(docker!, cluster!.invokers.map((i) => i.id))).filter((c) => c.Labels['hayate.function'] === 'probe');
  if (info === undefined) throw new Error('no warm container of probe');
  const top = (await docker!.getContainer(info.Id).top({ ps_args: '-eo pid,args' })) as { Processes: string[][] };
  return top.Processes.map(([pid, ...cmd]) => ({ pid: Number(pid), cmd: cmd.join(' ') }));
}

/** Calls probe over `hayate.v1.invoke` with per-call args and env; checks its answer; its pid. */
async function invokeProbe(t: ExecutionContext<{ cluster?: Cluster }>, client: InvocationClient, input: string, args: string[] = [], env: Record<string, string> = {}): Promise<number> {
  const { response } = await client.call({ function: 'probe', input: Buffer.from(input), args, env, timeoutMs: 30_000 });
  const out = Buffer.from(response.output).toString();
  const m = ANSWER.exec(out);
  t.truthy(m, `${out} ${Buffer.from(response.stderr).toString()}`);
  t.deepEqual(m?.slice(2), [['spec', ...args].join(','), env['PROBE'] ?? 'spec', input.toUpperCase()]);
  return Number(m?.[1]);
}

dockerTest('a warm container answers many concurrent NATS calls each with its own input when processes are spawned ahead', async (t) => {
  const cluster = t.context.cluster!;
  const client = new InvocationClient(cluster.nc, {});
  await invokeProbe(t, client, 'first'); // starts the container
  for (let i = 0; i < 5; i += 1) await invokeProbe(t, client, `seq ${i}`);
  const inputs = Array.from({ length: 48 }, (_, i) => `nats ${i} ${randomBytes(4).toString('hex')}`);
  const answers = await Promise.all(inputs.map((input) => cluster.nc.request('hayate.v1.call.probe', Buffer.from(input), { timeout: 60_000 })));
  const pids = answers.map((m, i) => {
    const out = Buffer.from(m.data).toString();
    t.is(m.headers?.get('Hayate-Tier'), 'container');
    t.deepEqual(ANSWER.exec(out)?.slice(2), ['spec', 'spec', inputs[i]!.toUpperCase()], out);
    return Number(ANSWER.exec(out)?.[1]);
  });
  t.is(new Set(pids).size, pids.length, 'every call ran in a process of its own');
});

dockerTest('a warm container runs each call with its own args and env when they differ from the spec ones', async (t) => {
  const client = new InvocationClient(t.context.cluster!.nc, {});
  const shapes: [string[], Record<string, string>][] = [[[], {}], [['x'], {}], [[], { PROBE: 'call' }], [[], {}], [['x', 'y'], { PROBE: 'z' }], [[], {}]];
  for (let round = 0; round < 2; round += 1) for (const [i, [args, env]] of shapes.entries()) await invokeProbe(t, client, `r${round} s${i}`, args, env);
  await Promise.all([...shapes, ...shapes].map(([args, env], i) => invokeProbe(t, client, `mixed ${i}`, args, env)));
});

dockerTest('a warm container answers the next calls when its processes are SIGKILLed from outside, ahead or mid-call', async (t) => {
  const client = new InvocationClient(t.context.cluster!.nc, {});
  for (let i = 0; i < 4; i += 1) await invokeProbe(t, client, `warm ${i}`);
  const ahead = await until('a process spawned ahead in the container', async () => {
    const ps = (await containerProcesses(t)).filter((p) => p.cmd === '/probe spec');
    return ps.length > 0 ? ps : undefined;
  });
  for (const p of ahead) process.kill(p.pid, 'SIGKILL'); // from the host: the container's processes are ours to see
  for (let i = 0; i < 4; i += 1) await invokeProbe(t, client, `after kill ${i}`);
  await Promise.all(Array.from({ length: 8 }, (_, i) => invokeProbe(t, client, `after kill concurrent ${i}`)));

  const slow = client.call({ function: 'probe', input: Buffer.from('slow'), args: ['sleep'], timeoutMs: 30_000 });
  const victim = await until('the sleeping probe in the container', async () => (await containerProcesses(t)).find((p) => p.cmd === '/probe spec sleep'));
  process.kill(victim.pid, 'SIGKILL');
  const { response } = await slow;
  // SIGKILL reads as the container's memory limit (container-executor.ts): that call ends, with no output
  t.is(response.status, StatusName.LIMIT_EXCEEDED);
  t.is(Buffer.from(response.output).toString(), '');
  for (let i = 0; i < 4; i += 1) await invokeProbe(t, client, `after mid-call kill ${i}`);
});

dockerTest('stopping the invoker leaves no process of a warm container behind when processes wait spawned ahead', async (t) => {
  const client = new InvocationClient(t.context.cluster!.nc, {});
  for (let i = 0; i < 4; i += 1) await invokeProbe(t, client, `before stop ${i}`);
  const before = await containerProcesses(t);
  t.true(before.some((p) => p.cmd === '/probe spec'), 'a process waits spawned ahead');
  const ids = t.context.cluster!.invokers.map((i) => i.id);
  await t.context.cluster!.stop();
  t.deepEqual(before.filter((p) => running(p.pid)).map((p) => p.cmd), []);
  t.deepEqual(await containersOf(t.context.docker!, ids), []);
});
