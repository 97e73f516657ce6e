/**
 * One warm container: the function's image with hayate-watchdog bind-mounted read-only as its entrypoint
 * (as Docker does with docker-init), so the image needs nothing of ours and `FROM scratch` works. The
 * invoker talks to the watchdog over a unix socket in a bind-mounted folder: containers have no network.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { FunctionSpec } from '../../../common/codec';
import { HayateError } from '../../../common/errors';
import type { Logger } from '../../../common/logger';
import { retry } from '../../../common/retry';
import type { ContainerFiles } from './container-files';
import { WatchdogClient, watchdogPing } from './watchdog-client';

/** Labels on every container hayate starts; an invoker removes its own orphans by them. */
export const Label = {
  function: 'hayate.function',
  invoker: 'hayate.invoker',
  host: 'hayate.host',
  pid: 'hayate.invoker-pid',
  version: 'hayate.version',
} as const;

const MiB = 1024 * 1024;
/** Docker refuses memory limits under 6 MiB. */
const MIN_MEMORY = 6 * MiB;

/** Settings shared by every container of one invoker. */
export interface ContainerSettings {
  invokerId: string;
  hostname: string;
  /** Host path of the static watchdog binary. */
  watchdogPath: string;
  /** Host folder under which each container gets its socket folder. */
  runtimeDir: string;
  /** CPUs each container may use (CPU quota). @default 1 */
  cpus: number;
  /** CPUs the containers run on (Docker `CpusetCpus`, `HAYATE_CONTAINER_CPUSET`); '' = any. @default '' */
  cpuset: string;
  /** Processes per container (fork bombs stop here). @default 64 */
  pidsLimit: number;
  /** Size of the tmpfs /tmp. @default 64 */
  tmpMb: number;
  /** Images a function may name (`HAYATE_IMAGE_PREFIXES`). @default ['hayate-', 'hayate/'] */
  imagePrefixes: readonly string[];
}

export const ContainerState = { starting: 'starting', ready: 'ready', failed: 'failed', removed: 'removed' } as const;
export type ContainerState = (typeof ContainerState)[keyof typeof ContainerState];

export class WarmContainer {
  state: ContainerState = ContainerState.starting;
  id = '';
  readonly socketPath: string;
  /** Calls go through it: it keeps its connections to the watchdog between calls. */
  readonly watchdog: WatchdogClient;
  readonly ready: Promise<void>;
  lastUsedMs = Date.now();
  inFlight = 0;
  private readonly dir: string;

  constructor(
    private readonly docker: Docker,
    readonly spec: FunctionSpec,
    private readonly settings: ContainerSettings,
    private readonly log: Logger,
    /** The function's files (read-only bind mounts). @default none */
    private readonly files?: ContainerFiles,
  ) {
    // short paths: a unix socket path must fit in 108 bytes
    this.dir = join(settings.runtimeDir, randomBytes(6).toString('hex'));
    this.socketPath = join(this.dir, 'sock');
    this.watchdog = new WatchdogClient(this.socketPath, { maxConnections: this.maxConns });
    this.ready = this.start();
    this.ready.catch(() => undefined); // observed by callers; never an unhandled rejection
  }

  /** Invocations the watchdog serves at once (its handlers); the client keeps no more connections. */
  private get maxConns(): number {
    return Math.max(1, this.spec.maxConcurrency || 64);
  }

  private async start(): Promise<void> {
    const t0 = performance.now();
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    try {
      const command = await this.imageCommand();
      const mounts = (await this.files?.mounts(this.spec)) ?? [];
      const memory = Math.max(MIN_MEMORY, this.spec.memoryMb * MiB);
      const container = await this.docker.createContainer({
        Image: this.spec.image,
        Entrypoint: ['/hayate-watchdog', '--socket', '/hayate/sock', '--max-conns', String(this.maxConns), '--'],
        Cmd: command,
        Labels: {
          [Label.function]: this.spec.name,
          [Label.invoker]: this.settings.invokerId,
          [Label.host]: this.settings.hostname,
          [Label.pid]: String(process.pid),
          [Label.version]: String(this.spec.version),
        },
        NetworkDisabled: true,
        HostConfig: {
          NetworkMode: 'none',
          ReadonlyRootfs: true,
          Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${this.settings.tmpMb}m` },
          Memory: memory,
          MemorySwap: memory, // equal to Memory: no swap
          NanoCpus: Math.round(this.settings.cpus * 1e9),
          ...(this.settings.cpuset === '' ? {} : { CpusetCpus: this.settings.cpuset }),
          PidsLimit: this.settings.pidsLimit,
          SecurityOpt: ['no-new-privileges'],
          CapDrop: ['ALL'],
          Binds: [`${this.settings.watchdogPath}:/hayate-watchdog:ro`, `${this.dir}:/hayate`],
          Mounts: mounts,
          AutoRemove: false,
        },
      });
      this.id = container.id;
      await container.start();
      await this.waitForSocket();
      this.state = ContainerState.ready;
      this.log.info({ fn: this.spec.name, container: this.id.slice(0, 12), image: this.spec.image, ms: Math.round(performance.now() - t0) }, 'warm container ready');
    } catch (err: unknown) {
      this.state = ContainerState.failed;
      await this.remove('failed to start');
      throw err instanceof HayateError ? err : new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot start a container of ${this.spec.name} from image ${this.spec.image}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** The image's own command (entrypoint + cmd); pulls the image when it is missing. */
  private async imageCommand(): Promise<string[]> {
    const image = this.docker.getImage(this.spec.image);
    let info: Docker.ImageInspectInfo;
    try {
      info = await image.inspect();
    } catch {
      await this.pull();
      info = await image.inspect();
    }
    const command = [...(info.Config.Entrypoint ?? []), ...(info.Config.Cmd ?? [])];
    if (command.length === 0) throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot run image ${this.spec.image} for ${this.spec.name}: it has neither ENTRYPOINT nor CMD`);
    return command;
  }

  private async pull(): Promise<void> {
    try {
      const stream = await this.docker.pull(this.spec.image);
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    } catch (err: unknown) {
      throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot run ${this.spec.name} in a container: image ${this.spec.image} is not on this node and could not be pulled (${err instanceof Error ? err.message : String(err)})`);
    }
  }

  private waitForSocket(): Promise<void> {
    const ping = async () => {
      try {
        await watchdogPing(this.socketPath);
      } catch (err: unknown) {
        const state = await this.docker.getContainer(this.id).inspect().catch(() => null);
        if (state !== null && !state.State.Running) throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Container of ${this.spec.name} exited with code ${state.State.ExitCode} before it was ready`);
        throw err;
      }
    };
    return retry(ping, {
      patienceMs: 15_000,
      backoff: { initialMs: 10 },
      retryOn: (err) => !(err instanceof HayateError),
      exhausted: (err) => new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Container of ${this.spec.name} did not answer on its socket within 15 s (${err instanceof Error ? err.message : String(err)})`),
    });
  }

  /** Stops and removes the container and its socket folder. Idempotent; never throws. */
  async remove(reason: string): Promise<void> {
    if (this.state === ContainerState.removed) return;
    const wasReady = this.state === ContainerState.ready;
    this.state = ContainerState.removed;
    this.watchdog.close();
    if (this.id !== '') {
      await this.docker
        .getContainer(this.id)
        .remove({ force: true })
        .catch((err: unknown) => this.log.warn({ err, container: this.id.slice(0, 12) }, 'container remove failed'));
    }
    rmSync(this.dir, { recursive: true, force: true });
    if (wasReady || this.id !== '') this.log.info({ fn: this.spec.name, container: this.id.slice(0, 12), reason }, 'warm container removed');
  }
}
