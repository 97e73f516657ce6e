/**
 * A local edge site's NATS server: a leaf node of the hub (a `NatsCluster`), on free loopback ports, its
 * own OS process. It has no JetStream of its own: its clients reach the hub's buckets through the leaf link
 * with the hub's JetStream domain (`$JS.<domain>.API.>`), and core requests published here go to this
 * server's queue subscribers first, crossing to the hub (and other sites) only when it has none.
 *
 * Layout under `dir`: `<name>.conf`, `<name>.log`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HayateError } from '../common/errors';
import { waitNatsReady } from '../common/nats-ready';
import { freePort, natsServerBinary, stopChild } from './processes';

/** Options of a leaf node. */
export interface NatsLeafOptions {
  /** Folder of its config and log (created). */
  dir: string;
  /** Site name, also the server name. */
  name: string;
  /** The hub's leaf-node URLs (`nats-leaf://127.0.0.1:<port>`), one per hub server. */
  hubLeafUrls: readonly string[];
  /** The hub's JetStream domain, checked reachable through the link before `start` resolves. */
  hubDomain: string;
  /** Largest message (the hub's). @default 8388608 */
  maxPayload?: number;
  /** @default 30000 */
  readyTimeoutMs?: number;
}

export class NatsLeaf {
  private child: ChildProcess | null = null;

  private constructor(
    readonly name: string,
    /** Client URL, nats://127.0.0.1:<port>. */
    readonly url: string,
    readonly monitorPort: number,
    readonly configFile: string,
    private readonly logFile: string,
  ) {}

  /** The server's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Writes the config, starts the server and resolves once its link to the hub carries JetStream calls.
   * @throws HayateError HAYATE_ERR_UNAVAILABLE when it exits or does not get there within the timeout
   */
  static async start(options: NatsLeafOptions): Promise<NatsLeaf> {
    const dir = resolve(options.dir);
    mkdirSync(dir, { recursive: true });
    const clientPort = await freePort();
    const monitorPort = await freePort();
    const configFile = join(dir, `${options.name}.conf`);
    writeFileSync(
      configFile,
      [
        `server_name: ${JSON.stringify(options.name)}`,
        `listen: 127.0.0.1:${clientPort}`,
        `http: 127.0.0.1:${monitorPort}`,
        `max_payload: ${options.maxPayload ?? 8 * 1024 * 1024}`,
        // 1 s between attempts: a hub server that comes back is rejoined at once
        `leafnodes { reconnect: 1, remotes: [ { urls: [${options.hubLeafUrls.map((u) => JSON.stringify(u)).join(', ')}] } ] }`,
        '',
      ].join('\n'),
    );
    const leaf = new NatsLeaf(options.name, `nats://127.0.0.1:${clientPort}`, monitorPort, configFile, join(dir, `${options.name}.log`));
    leaf.spawn();
    try {
      await leaf.waitReady(options.hubDomain, options.readyTimeoutMs ?? 30_000);
    } catch (err: unknown) {
      await leaf.stop();
      throw err;
    }
    return leaf;
  }

  /** Calls `fn` when the server exits by itself (not through `stop`/`kill`). */
  onExit(fn: (code: number | null) => void): void {
    const child = this.child;
    child?.once('exit', (code) => {
      if (this.child === child) fn(code);
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL after 10 s. Idempotent. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    await stopChild(child, 10_000, signal);
  }

  private spawn(): void {
    const logFd = openSync(this.logFile, 'a');
    this.child = spawn(natsServerBinary(), ['-c', this.configFile], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
  }

  /** Ready = `/healthz` ok and the hub's JetStream answers through this server. */
  private waitReady(domain: string, timeoutMs: number): Promise<void> {
    return waitNatsReady({ label: `leaf node ${this.name} (to the hub's JetStream domain ${domain})`, child: () => this.child, url: this.url, monitorPort: this.monitorPort, domain, logFile: this.logFile, timeoutMs });
  }
}
