/**
 * The container tier: one warm container per (function, invoker), each invocation forked by the watchdog
 * inside it (no `docker exec`: ≈120 ms here, against ≈2 ms through the watchdog).
 */
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import type { FunctionSpec } from '../../../common/codec';
import { Tier } from '../../../common/codec';
import { DEFAULTS } from '../../../common/config';
import { HayateError } from '../../../common/errors';
import { checkImage } from '../../../common/images';
import type { Logger } from '../../../common/logger';
import type { CallSignal, ExecutionOutcome, ExecutionRequest, ExecutionResult } from '../../executor';
import { abortSignalOf } from '../../executor';
import type { ContainerTier } from '../../tier-router';
import type { ContainerFiles } from './container-files';
import type { ContainerSettings } from './warm-container';
import { ContainerState, Label, WarmContainer } from './warm-container';

export { DEFAULT_WATCHDOG, probeDocker } from '../../../common/docker-probe';

const SIGKILL = 9;

export class ContainerExecutor implements ContainerTier {
  readonly tier = Tier.container;
  private readonly containers = new Map<string, WarmContainer>();
  private readonly settings: ContainerSettings;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly docker: Docker,
    settings: Omit<ContainerSettings, 'hostname' | 'cpus' | 'cpuset' | 'pidsLimit' | 'tmpMb' | 'imagePrefixes'> & Partial<ContainerSettings>,
    private readonly log: Logger,
    /** Functions' files, mounted read-only into their containers. @default none */
    private readonly files?: ContainerFiles,
  ) {
    this.settings = { hostname: hostname(), cpus: 1, cpuset: '', pidsLimit: 64, tmpMb: 64, imagePrefixes: DEFAULTS.imagePrefixes, ...settings };
  }

  /**
   * Removes containers a previous process of this invoker left (same invoker id), and those of dead
   * invoker processes on this host.
   */
  async removeOrphans(): Promise<number> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${Label.host}=${this.settings.hostname}`] } });
    let removed = 0;
    for (const c of list) {
      const pid = Number(c.Labels[Label.pid] ?? 0);
      const mine = c.Labels[Label.invoker] === this.settings.invokerId && pid !== process.pid;
      if (mine || (pid > 0 && !alive(pid))) {
        await this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
        removed += 1;
      }
    }
    if (removed > 0) this.log.info({ removed }, 'removed orphan containers');
    return removed;
  }

  /** The warm container of `spec` if one is ready now (never starts one). */
  readyFor(spec: FunctionSpec): WarmContainer | null {
    const c = this.containers.get(spec.name);
    return c !== undefined && c.state === ContainerState.ready && c.spec.version === spec.version ? c : null;
  }

  isReady(spec: FunctionSpec): boolean {
    return this.readyFor(spec) !== null;
  }

  /**
   * Starts (or returns) the warm container of `spec`, replacing one of an older version.
   * @throws HayateError HAYATE_ERR_CONTAINER_UNAVAILABLE when it cannot start
   */
  async warm(spec: FunctionSpec): Promise<WarmContainer> {
    if (this.closing !== null) throw new HayateError('HAYATE_ERR_UNAVAILABLE', 'Cannot start a container as the invoker is stopping');
    if (spec.image === '') throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Cannot run ${spec.name} in a container: it has no image`);
    // again here: the spec may never have passed this controller's deploy check
    checkImage(spec.image, this.settings.imagePrefixes, `run ${spec.name} in a container`);
    let c = this.containers.get(spec.name);
    if (c !== undefined && (c.spec.version !== spec.version || c.state === ContainerState.failed || c.state === ContainerState.removed)) {
      await this.remove(spec.name, 'replaced');
      c = undefined;
    }
    if (c === undefined) {
      c = new WarmContainer(this.docker, spec, this.settings, this.log, this.files);
      this.containers.set(spec.name, c);
    }
    await c.ready;
    return c;
  }

  async invoke(req: ExecutionRequest, callSignal: CallSignal): Promise<ExecutionResult> {
    const t0 = performance.now();
    const signal = abortSignalOf(callSignal);
    const existing = this.readyFor(req.spec);
    const container = existing ?? (await this.warm(req.spec));
    const coldStart = existing === null;
    const startedUs = Math.round((performance.now() - t0) * 1000);
    container.inFlight += 1;
    container.lastUsedMs = Date.now();
    try {
      const r = await container.watchdog.call(
        { args: req.args, env: req.env, input: req.input, timeoutMs: Math.max(1, req.deadlineUnixMs - Date.now()), maxOutputBytes: req.maxOutputBytes, maxStderrBytes: req.maxStderrBytes },
        signal,
      );
      const totalUs = Math.round((performance.now() - t0) * 1000);
      const startupUs = startedUs + Math.round(r.startupNs / 1000);
      const execUs = Math.round(r.execNs / 1000);
      return { tier: Tier.container, outcome: outcomeOf(r.outcome, r.exitCode, r.signal, r.stderr), stdout: r.stdout, stderr: r.stderr, coldStart, startupUs, execUs, teardownUs: Math.max(0, totalUs - startupUs - execUs) };
    } catch (err: unknown) {
      if (signal.aborted) {
        return { tier: Tier.container, outcome: { kind: 'timeout' }, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), coldStart, startupUs: startedUs, execUs: Math.round((performance.now() - t0) * 1000) - startedUs, teardownUs: 0 };
      }
      // the socket closed under us: the container died or was killed; the next call starts a new one
      const reason = err instanceof Error ? err.message : String(err);
      void this.remove(req.fn, `died during a call: ${reason}`);
      throw new HayateError('HAYATE_ERR_CONTAINER_UNAVAILABLE', `Container of ${req.fn} failed during the call (${reason}); the next call starts a new one`, { cause: err });
    } finally {
      container.inFlight -= 1;
      container.lastUsedMs = Date.now();
    }
  }

  /** Removes the container of `fn` (redeploy, delete, idle, failure). */
  async remove(fn: string, reason: string): Promise<void> {
    const c = this.containers.get(fn);
    if (c === undefined) return;
    this.containers.delete(fn);
    await c.ready.catch(() => undefined);
    await c.remove(reason);
  }

  /** Names of functions whose ready container has been idle longer than `idleMs`. */
  idle(idleMs: number): string[] {
    const now = Date.now();
    return [...this.containers.entries()].filter(([, c]) => c.state === ContainerState.ready && c.inFlight === 0 && now - c.lastUsedMs > idleMs).map(([fn]) => fn);
  }

  /** Removes every container. Idempotent. */
  close(): Promise<void> {
    this.closing ??= Promise.allSettled([...this.containers.keys()].map((fn) => this.remove(fn, 'invoker stopping'))).then(() => this.files?.close());
    return this.closing;
  }
}

function outcomeOf(outcome: string, exitCode: number, signal: number, stderr: Buffer): ExecutionOutcome {
  switch (outcome) {
    case 'exited':
      return { kind: 'exited', exitCode };
    case 'timeout':
      return { kind: 'timeout' };
    case 'output-limit':
      return { kind: 'output-limit', stream: 'stdout' };
    case 'signaled':
      // the kernel's OOM killer sends SIGKILL inside the container's memory cgroup
      return signal === SIGKILL ? { kind: 'memory-limit', message: 'killed by SIGKILL (the container memory limit)' } : { kind: 'trapped', message: `killed by signal ${signal}` };
    case 'spawn-failed':
      return { kind: 'trapped', message: `could not start the program: ${stderr.toString('utf8').trim()}` };
    default:
      return { kind: 'trapped', message: `watchdog answered ${outcome}` };
  }
}

/** Whether process `pid` exists (on this host). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
