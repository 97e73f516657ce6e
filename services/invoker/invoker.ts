/**
 * The invoker: its lifecycle (idle → running → draining → stopped) and the parts it wires together.
 * An invocation goes NATS endpoint (nats-endpoint.ts) or async consumer (async-consumer.ts) → runner
 * (invocation-runner.ts) → tier router (tier-router.ts) → executor. The invoker is stateless but for
 * caches: compiled modules, specs (a KV watch), recent answers, warm containers.
 */
import { hostname } from 'node:os';
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { DeployNotice, FunctionSpec, InvokeRequest, InvokerStatus } from '../common/codec';
import { decodeDeployNotice } from '../common/codec';
import type { ActivationStore } from '../common/activations';
import type { AsyncQueue } from '../common/async-queue';
import type { Config } from '../common/config';
import { EndOfTurn } from '../common/end-of-turn';
import { HayateError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { FunctionStore } from '../common/store';
import { parseFunctionName } from '../common/names';
import { Subjects } from '../common/subjects';
import { AsyncConsumer } from './async-consumer';
import type { BundleCache } from './bundle-cache';
import { ExecutionLog } from './execution-log';
import { InvocationRunner } from './invocation-runner';
import { LogPublisher } from './log-publisher';
import type { InvokerObserver } from './metrics';
import type { ModuleCache } from './module-cache';
import { NatsEndpoint } from './nats-endpoint';
import { PeerAnswers } from './peer-answers';
import { RecentResults } from './recent-results';
import { SpecCache } from './spec-cache';
import type { TierRouter } from './tier-router';
import type { TriggerConsumersDeps } from './trigger-consumers';
import { TriggerConsumers } from './trigger-consumers';

/** Invoker lifecycle. */
export const InvokerState = { idle: 'idle', running: 'running', draining: 'draining', stopped: 'stopped' } as const;
export type InvokerState = (typeof InvokerState)[keyof typeof InvokerState];

/** Reply to a deploy notice by an invoker that does not compile ahead (prefetch off). */
const NOT_PRELOADED = new TextEncoder().encode('not preloaded');

export interface InvokerDeps {
  nc: NatsConnection;
  config: Readonly<Config>;
  log: Logger;
  store: FunctionStore;
  modules: ModuleCache;
  /** Functions' files (bundles): prefetched on deploy, dropped when no spec names them. @default none */
  bundles?: BundleCache;
  /** Owns both tiers; the invoker sees them only through it. */
  router: TierRouter;
  /** Async invocations (SPEC §7): both set = this invoker pulls from the async work queue. @default none */
  queue?: AsyncQueue;
  activations?: ActivationStore;
  /** Told of every answer and tier transition (Prometheus metrics). @default none */
  metrics?: InvokerObserver;
  /** Triggers (with `queue` and `activations`): this invoker pulls from every active trigger's stream. @default none */
  triggers?: Pick<TriggerConsumersDeps, 'triggers' | 'functions' | 'stats'>;
}

export class Invoker {
  private state: InvokerState = InvokerState.idle;
  private readonly subjects: Subjects;
  private readonly specs: SpecCache;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly startedUnixMs = Date.now();
  private closing: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly executions: ExecutionLog;
  private readonly peers: PeerAnswers;
  private readonly runner: InvocationRunner;
  private readonly endpoint: NatsEndpoint;
  private asyncConsumer: AsyncConsumer | null = null;
  private triggerConsumers: TriggerConsumers | null = null;
  private readonly logs: LogPublisher;
  private deployNotices: Subscription | null = null;

  constructor(private readonly deps: InvokerDeps) {
    const { nc, config } = deps;
    this.log = deps.log.child({ component: 'invoker' });
    this.subjects = new Subjects(config.subjectPrefix);
    this.specs = new SpecCache(deps.store, config.functionDefaults, this.log);
    this.executions = new ExecutionLog(config.executionLogFile, config.invokerId);
    const outbox = new EndOfTurn(); // the answers of a turn leave in one write
    this.logs = new LogPublisher(nc, this.subjects, config);
    const recent = new RecentResults();
    this.peers = new PeerAnswers({ nc, subjects: this.subjects, recent, invokerId: config.invokerId, log: deps.log.child({ component: 'peer-answers' }), beatMs: config.beatMs, deadAfterMs: config.deadAfterMs });
    this.runner = new InvocationRunner({ config, log: this.log, specs: this.specs, router: deps.router, recent, peers: this.peers, executions: this.executions, metrics: deps.metrics, logs: this.logs });
    this.endpoint = new NatsEndpoint({ nc, config, log: this.log, subjects: this.subjects, runner: this.runner, executions: this.executions, status: () => this.status(), track: (work) => this.track(work), outbox });
  }

  get id(): string {
    return this.deps.config.invokerId;
  }

  /** Starts the spec watch and the subscriptions. @throws HayateError when not idle */
  async start(): Promise<void> {
    this.transition(InvokerState.running, [InvokerState.idle]);
    this.specs.onChange((event, previous) => {
      const name = event.kind === 'put' ? event.spec.name : event.name;
      const changed = event.kind === 'delete' || previous?.digest !== event.spec.digest || previous.memoryMb !== event.spec.memoryMb || previous.image !== event.spec.image || previous.policy !== event.spec.policy;
      if (previous !== undefined && changed) {
        this.runner.redeployed(name, event.kind === 'put' ? event.spec.version : -1);
        this.deps.modules.evict(previous.digest);
        const runtime = this.runner.runtimeOf(name);
        if (runtime !== undefined) void this.deps.router.reset(runtime, event.kind === 'delete' ? 'deleted' : 'redeployed');
      }
      if (event.kind === 'put') this.prefetch(event.spec);
      this.deps.bundles?.onSpecChange(event, previous, this.specs.all());
    });
    await this.specs.start();
    this.deployNotices = this.deps.nc.subscribe(this.subjects.allDeployed(), { callback: (err, msg) => err === null && this.noticed(msg) });
    await this.endpoint.start();
    this.peers.start();
    const { queue, activations, nc, config } = this.deps;
    if (queue !== undefined && activations !== undefined) {
      const pulling = {
        nc,
        activations,
        executions: this.executions,
        invokerId: config.invokerId,
        slots: config.asyncConcurrency || this.deps.router.capacity,
        log: this.deps.log,
        run: (request: InvokeRequest) => this.runner.run(request, performance.now()),
        track: (work: Promise<unknown>) => this.track(work),
      };
      this.asyncConsumer = new AsyncConsumer({ ...pulling, queue });
      await this.asyncConsumer.start();
      if (this.deps.triggers !== undefined) this.triggerConsumers = new TriggerConsumers({ ...pulling, ...this.deps.triggers });
      await this.triggerConsumers?.start();
    }
    this.log.info({ prefix: config.subjectPrefix, capacity: this.deps.router.capacity, site: config.site }, 'invoker listening');
  }

  /**
   * Graceful drain: stop intake, finish in-flight work (bounded by drainTimeoutMs, then abort it), release
   * the tiers. The caller drains the NATS connection afterwards. Idempotent.
   */
  drain(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      if (this.state === InvokerState.idle) {
        this.state = InvokerState.stopped;
        return;
      }
      this.transition(InvokerState.draining, [InvokerState.running]);
      this.runner.stopAccepting();
      // the async loops end once their current message is handed over (finished, or aborted at the timeout)
      let asyncStopped: Promise<unknown> = Promise.resolve();
      const steps: [string, () => Promise<unknown>][] = [
        ['stop intake', async () => {
          asyncStopped = Promise.allSettled([this.asyncConsumer?.stop(), this.triggerConsumers?.stop()]);
          await this.endpoint.stopIntake();
        }],
        ['finish in-flight', () => this.finishInFlight()],
        ['stop async consumer', () => asyncStopped],
        ['release tiers', () => this.deps.router.close()],
        ['stop watch', async () => {
          this.specs.stop();
          this.deployNotices?.unsubscribe();
        }],
        ['stop status', async () => {
          this.endpoint.stopStatus();
          this.peers.stop();
        }],
        ['close execution log', async () => this.executions.close()],
        ['stop log publishing', async () => this.logs.close()],
      ];
      for (const [step, run] of steps) {
        try {
          await run();
        } catch (err: unknown) {
          this.log.error({ err, step }, 'drain step failed');
        }
      }
      this.transition(InvokerState.stopped, [InvokerState.draining]);
    })();
    return this.closing;
  }

  /**
   * Fetches and compiles a deployed module in the background, so that the first call after a deploy finds
   * it compiled (an object store read and a compile cost several ms; SPEC's cold-start budget is ~5 ms).
   * Only while the module cache has room to spare: a node with more functions than cache compiles on demand.
   */
  private prefetch(spec: FunctionSpec): void {
    const { config, modules } = this.deps;
    if (!config.prefetchModules || modules.bytes + spec.moduleBytes > config.moduleCacheBytes / 2) return;
    modules.prefetch(spec.digest, spec.memoryMb, (err: unknown) => this.log.debug({ err, fn: spec.name }, 'module prefetch failed'));
  }

  /**
   * A deploy notice: compile the module it carries at once (only bytes that match the digest are taken),
   * so that the first call, sent as soon as the deploy is answered, finds it compiled and in every worker.
   * The spec itself still comes from the KV (watch, or a read when the call beats it): a notice is a hint.
   */
  private noticed(msg: Msg): void {
    let notice: DeployNotice;
    try {
      notice = decodeDeployNotice(msg.data);
    } catch (err: unknown) {
      this.log.debug({ err }, 'malformed deploy notice ignored');
      return;
    }
    const { spec, module } = notice;
    if (!this.deps.config.prefetchModules || module.byteLength === 0) {
      // not ready, and not waiting to be: say so at once (a non-empty reply), so the deploy does not wait for us
      if (msg.reply) msg.respond(NOT_PRELOADED);
      return;
    }
    // with the spec read from the KV meanwhile (unless the watch brought it already), so the first call
    // does not wait for that read either
    Promise.all([this.deps.modules.preload(spec, module), this.specs.get(parseFunctionName(spec.name))])
      // acknowledged (empty reply) once compiled and handed to the workers: the controller answers the deploy then
      .then(() => msg.reply && msg.respond(new Uint8Array(0)))
      .catch((err: unknown) => this.log.debug({ err, fn: spec.name }, 'module preload failed'));
  }

  /** This invoker's status (`hayate.v1.status`). */
  status(): InvokerStatus {
    const container = this.deps.router.containerTier();
    return {
      invokerId: this.id,
      state: this.state,
      hostname: hostname(),
      pid: process.pid,
      startedUnixMs: this.startedUnixMs,
      workers: this.deps.router.capacity,
      inFlight: this.runner.inFlight,
      invocations: this.runner.ran,
      containerTier: container.available,
      containerReason: container.reason,
      functions: this.runner.snapshots(),
      moduleCacheBytes: this.deps.modules.bytes,
      site: this.deps.config.site,
      ...(this.deps.bundles?.stats() ?? { bundleCacheBytes: 0, bundleFetches: 0, bundleFetchBytes: 0 }),
    };
  }

  private transition(to: InvokerState, from: readonly InvokerState[]): void {
    if (!from.includes(this.state)) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot move invoker from ${this.state} to ${to}`);
    this.log.info({ from: this.state, to }, 'invoker state');
    this.state = to;
  }

  /** Registers work that drain waits for. */
  private track(task: Promise<unknown>): void {
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private async finishInFlight(): Promise<void> {
    if (this.inFlight.size === 0) return;
    this.log.info({ inFlight: this.inFlight.size }, 'waiting for in-flight invocations');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.deps.config.drainTimeoutMs)));
    const outcome = await Promise.race([Promise.allSettled([...this.inFlight]), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn({ inFlight: this.inFlight.size }, 'drain timeout: aborting in-flight invocations');
      this.runner.abortAll();
      await Promise.allSettled([...this.inFlight]);
    }
  }
}
