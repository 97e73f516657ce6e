/**
 * `hayate up`: the embedded cluster. nats-server (JetStream) + one controller + N invokers, each its own OS
 * process, on loopback. Prints exactly one line on stdout when ready. Every child is supervised: one that
 * dies is started again (same port, same id) after a back-off, and the state file gets its new pid.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-file';
import { resolve } from 'node:path';
import type { Logger } from '../common/logger';
import { waitNatsReady } from '../common/nats-ready';
import { onShutdownSignal } from '../common/signals';
import { deployExamples, EXAMPLES_SCRIPT } from './examples';
import { announceReady } from './ready-banner';
import { freePort, HAYATE_BIN, natsServerBinary, spawnUntilReady, stopChild } from './processes';
import { Supervisor } from './supervisor';

export interface UpOptions {
  data: string;
  invokers: number;
  httpPort: number;
  natsPort: number;
  stateFile?: string;
  examples: boolean;
  workers?: number;
  /**
   * Edge sites: 0 = one nats-server and `invokers` invokers on it; N > 0 = a 3-server JetStream hub and N
   * leaf-node sites with `invokers` invokers each (see up-sites.ts). @default 0
   */
  sites?: number;
  /** Logs are human lines: after the ready line, print what runs where as a block (ready-banner.ts). @default false */
  pretty?: boolean;
}

interface InvokerProc {
  id: string;
  child: ChildProcess;
  /** Its `/metrics` URL, when HAYATE_METRICS_PORT turned the listener on. */
  metrics?: string;
}

/** Writes a single-server JetStream config and starts nats-server with it. */
async function startNats(dataDir: string, port: number): Promise<{ child: ChildProcess; url: string }> {
  const natsDir = resolve(dataDir, 'nats');
  mkdirSync(natsDir, { recursive: true });
  const conf = resolve(dataDir, 'nats-server.conf');
  writeFileSync(
    conf,
    [
      `server_name: hayate_${port}`,
      `listen: 127.0.0.1:${port}`,
      // 8 MiB: a 6 MiB function input (SPEC §2 default) plus its protobuf envelope fits in one message
      'max_payload: 8388608',
      `jetstream { store_dir: ${JSON.stringify(natsDir)} }`,
      '',
    ].join('\n'),
  );
  const url = `nats://127.0.0.1:${port}`;
  const child = (await spawnUntilReadyNats(natsServerBinary(), ['-c', conf], url)).child;
  return { child, url };
}

function dataDirOf(args: string[]): string {
  const conf = args[args.indexOf('-c') + 1] ?? '.';
  return resolve(conf, '..');
}

/** nats-server logs to stderr; readiness is a successful connection. */
async function spawnUntilReadyNats(bin: string, args: string[], url: string): Promise<{ child: ChildProcess }> {
  const { spawn } = await import('node:child_process');
  const { openSync } = await import('node:fs');
  // nats-server's own log goes to <data>/nats-server.log: our stderr carries hayate's logs
  const logFile = resolve(dataDirOf(args), 'nats-server.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', logFd, logFd] });
  try {
    await waitNatsReady({ label: `nats-server at ${url}`, child: () => child, url, logFile, timeoutMs: 15_000 });
  } catch (err: unknown) {
    child.kill('SIGKILL');
    throw err;
  }
  return { child };
}

/** Starts one invoker process; resolves once it serves. */
export async function startInvoker(natsUrl: string, id: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<InvokerProc> {
  const { child, line } = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'invoker', '--nats', natsUrl, '--id', id, ...extraArgs], /^hayate invoker ready/, { label: id, env });
  const metrics = / metrics=(\S+)/.exec(line)?.[1];
  return metrics === undefined ? { id, child } : { id, child, metrics };
}

/** Runs `hayate up` until SIGINT/SIGTERM. */
export async function up(options: UpOptions, log: Logger): Promise<void> {
  if (options.sites !== undefined && options.sites > 0) {
    const { upSites } = await import('./up-sites');
    return upSites({ ...options, sites: options.sites }, log);
  }
  const data = resolve(options.data);
  mkdirSync(data, { recursive: true });
  const natsPort = options.natsPort === 0 ? await freePort() : options.natsPort;
  const nats = await startNats(data, natsPort);
  log.info({ url: nats.url }, 'nats-server ready');
  const startController = (port: number) =>
    spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', nats.url, '--port', String(port), '--host', '127.0.0.1'], /^hayate controller ready http=/, { label: 'controller' });
  const controller = await startController(options.httpPort);
  const http = controller.line.replace(/^hayate controller ready http=/, '').trim();
  const workerArgs = options.workers !== undefined ? ['--workers', String(options.workers)] : [];
  const invokers = await Promise.all(Array.from({ length: options.invokers }, (_, i) => startInvoker(nats.url, `invoker-${natsPort}-${i + 1}`, workerArgs)));

  const writeState = (): void => {
    if (options.stateFile === undefined) return;
    const state = { http, nats: nats.url, invokers: invokers.map((i) => ({ id: i.id, pid: i.child.pid, metrics: i.metrics })), controller: { pid: supervised.controller.child.pid }, nats_pid: supervised.nats.child.pid, data };
    writeFileAtomic(options.stateFile, JSON.stringify(state, null, 2));
  };
  const supervisor = new Supervisor(log.child({ component: 'supervisor' }), writeState);
  const supervised = {
    nats: supervisor.watch('nats-server', nats.child, async () => (await startNats(data, natsPort)).child),
    // the same port again: clients keep the URL they were given
    controller: supervisor.watch('controller', controller.child, async () => (await startController(Number(new URL(http).port))).child),
    invokers: invokers.map((inv) =>
      supervisor.watch(inv.id, inv.child, async () => {
        const next = await startInvoker(nats.url, inv.id, workerArgs);
        inv.child = next.child;
        if (next.metrics !== undefined) inv.metrics = next.metrics;
        return next.child;
      }),
    ),
  };

  const stopAll = async (): Promise<void> => {
    supervisor.stop();
    // drain order: stop intake at the controller, then invokers finish their work, then the bus
    await stopChild(supervised.controller.child);
    await Promise.all(supervised.invokers.map((i) => stopChild(i.child)));
    await stopChild(supervised.nats.child);
  };
  onShutdownSignal(log, stopAll);

  let deployed: string[] = [];
  if (options.examples) {
    execFileSync('bash', [EXAMPLES_SCRIPT], { stdio: ['ignore', 2, 2] });
    deployed = await deployExamples(http, log);
    log.info({ functions: deployed }, 'examples deployed');
  }
  writeState();
  process.stdout.write(`hayate ready http=${http} nats=${nats.url}\n`);
  announceReady({ http, nats: nats.url, invokers: invokers.map((i) => ({ id: i.id, pid: i.child.pid })), data, examples: deployed }, options.pretty === true, log);
}
