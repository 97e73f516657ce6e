/**
 * A local NATS cluster of N `nats-server` processes (JetStream on each) on free loopback ports: configs
 * written under one folder, routes between every pair, each server its own OS process so one can be killed
 * and restarted alone (on the same ports and store, so it rejoins). For chaos tests, and as the building
 * block of local multi-site setups (pass `extraConfig` for leaf nodes, accounts, domains).
 *
 * Layout under `dir`: `<name>-<i>.conf`, `<name>-<i>.log`, `<name>-<i>/jetstream` (i = 1..N).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, natsServerBinary, stopChild } from './child-process';
import { HayateError } from './errors';
import { waitNatsReady } from './nats-ready';

/** Options of a local cluster. */
export interface NatsClusterOptions {
  /** Folder for configs, logs and JetStream stores (created). */
  dir: string;
  /** Servers in the cluster; 1 = a single server without a cluster block. @default 3 */
  size?: number;
  /** Cluster name, also the prefix of server names and files. @default 'hayate' */
  name?: string;
  /** Largest message; 8 MiB fits a 6 MiB function input in its envelope (SPEC §2). @default 8388608 */
  maxPayload?: number;
  /** Extra config lines of server i (0-based), e.g. `leafnodes { … }`. */
  extraConfig?: (index: number) => string[];
  /**
   * JetStream domain of the cluster, for leaf nodes whose clients reach this JetStream through
   * `$JS.<domain>.API.>` (nats-server 2.9 denies the plain `$JS.API.>` across a leaf link). @default none
   */
  jetstreamDomain?: string;
  /** Wait this long for a server (or the cluster's JetStream) to get ready. @default 30000 */
  readyTimeoutMs?: number;
}

/** One server of the cluster. */
export interface NatsServerInfo {
  /** 0-based index. */
  index: number;
  name: string;
  /** Client URL, nats://127.0.0.1:<port>. */
  url: string;
  clientPort: number;
  clusterPort: number;
  /** HTTP monitoring port (`/healthz`, `/varz`, `/jsz`). */
  monitorPort: number;
  configFile: string;
  storeDir: string;
  /** The running process, or null while stopped. */
  child: ChildProcess | null;
}

export class NatsCluster {
  readonly servers: NatsServerInfo[];
  private readonly readyTimeoutMs: number;

  private constructor(servers: NatsServerInfo[], readyTimeoutMs: number) {
    this.servers = servers;
    this.readyTimeoutMs = readyTimeoutMs;
  }

  /**
   * Writes the configs and starts every server; resolves once JetStream answers through each of them.
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when nats-server is missing or a server does not get ready
   */
  static async start(options: NatsClusterOptions): Promise<NatsCluster> {
    const size = options.size ?? 3;
    if (!Number.isInteger(size) || size < 1) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid cluster size ${size}: expected an integer ≥ 1`);
    const name = options.name ?? 'hayate';
    const dir = resolve(options.dir);
    mkdirSync(dir, { recursive: true });
    const servers: NatsServerInfo[] = [];
    for (let i = 0; i < size; i += 1) {
      servers.push({
        index: i,
        name: `${name}-${i + 1}`,
        url: '',
        clientPort: await freePort(),
        clusterPort: await freePort(),
        monitorPort: await freePort(),
        configFile: join(dir, `${name}-${i + 1}.conf`),
        storeDir: join(dir, `${name}-${i + 1}`),
        child: null,
      });
    }
    for (const s of servers) {
      s.url = `nats://127.0.0.1:${s.clientPort}`;
      mkdirSync(s.storeDir, { recursive: true });
      const routes = servers.filter((o) => o !== s).map((o) => `nats-route://127.0.0.1:${o.clusterPort}`);
      const lines = [
        `server_name: ${JSON.stringify(s.name)}`,
        `listen: 127.0.0.1:${s.clientPort}`,
        `http: 127.0.0.1:${s.monitorPort}`,
        `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`,
        `jetstream { store_dir: ${JSON.stringify(s.storeDir)}${options.jetstreamDomain ? `, domain: ${JSON.stringify(options.jetstreamDomain)}` : ''} }`,
        ...(size > 1 ? [`cluster { name: ${JSON.stringify(name)}, listen: 127.0.0.1:${s.clusterPort}, routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}] }`] : []),
        ...(options.extraConfig?.(s.index) ?? []),
        '',
      ];
      writeFileSync(s.configFile, lines.join('\n'));
    }
    const cluster = new NatsCluster(servers, options.readyTimeoutMs ?? 30_000);
    try {
      for (const s of servers) cluster.spawn(s);
      await Promise.all(servers.map((s) => cluster.waitReady(s)));
    } catch (err: unknown) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Every client URL, comma-separated (what `--nats` and HAYATE_NATS_URL take). */
  get url(): string {
    return this.servers.map((s) => s.url).join(',');
  }

  /** Every client URL. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** Sends `signal` to server `index` and waits for it to exit. */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const s = this.server(index);
    const child = s.child;
    if (child === null) return;
    s.child = null;
    await stopChild(child, 10_000, signal);
  }

  /**
   * Starts server `index` again (same ports, same store) and waits until it is healthy: connected to its
   * routes and, with JetStream, caught up (`/healthz`).
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when it is still running or does not get healthy in time
   */
  async restart(index: number): Promise<void> {
    const s = this.server(index);
    if (s.child !== null) throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot restart NATS server ${s.name} as it is running (pid ${s.child.pid})`);
    this.spawn(s);
    await this.waitReady(s);
  }

  /** Stops every server (SIGTERM, then SIGKILL after 10 s). Idempotent; the folder is left in place. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.servers.map((s) => this.kill(s.index, 'SIGTERM')));
  }

  private server(index: number): NatsServerInfo {
    const s = this.servers[index];
    if (s === undefined) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `No NATS server ${index} in a cluster of ${this.servers.length}`);
    return s;
  }

  private spawn(s: NatsServerInfo): void {
    const logFd = openSync(join(s.storeDir, '..', `${s.name}.log`), 'a');
    const child = spawn(natsServerBinary(), ['-c', s.configFile], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.once('exit', () => {
      if (s.child === child) s.child = null;
    });
    s.child = child;
  }

  /** Ready = `/healthz` says ok (JetStream current in a cluster) and a client can reach JetStream. */
  private waitReady(s: NatsServerInfo): Promise<void> {
    return waitNatsReady({ label: `NATS server ${s.name}`, child: () => s.child, url: s.url, monitorPort: s.monitorPort, logFile: `${s.storeDir}.log`, timeoutMs: this.readyTimeoutMs });
  }
}
