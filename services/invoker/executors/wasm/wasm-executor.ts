/**
 * The WASM tier: runs a function's module in the worker pool, on hayate's WASI host (./wasi).
 */
import { Policy, Tier } from '../../../common/codec';
import { HayateError } from '../../../common/errors';
import type { Logger } from '../../../common/logger';
import { PAGES_PER_MIB } from '../../../common/wasm-module';
import type { BundleCache } from '../../bundle-cache';
import type { CallSignal, ExecutionRequest, ExecutionResult } from '../../executor';
import { abortSignalOf } from '../../executor';
import type { LoadedModule, ModuleCache } from '../../module-cache';
import type { WasmTier } from '../../tier-router';
import { InlineLane } from './inline-lane';
import { WasmPool } from './pool';
import type { PoolRunMessage, WasmPoolOptions } from './pool';
import type { RunFiles } from './worker-protocol';

const WASM_PAGE_BYTES = 65536;

function memoryLimitBytes(memoryMb: number): number {
  return memoryMb * PAGES_PER_MIB * WASM_PAGE_BYTES;
}

export class WasmExecutor implements WasmTier {
  readonly tier = Tier.wasm;
  private readonly pool: WasmPool;
  private readonly bundles: BundleCache | undefined;
  /** Short runs on the event-loop thread, or null when off (`HAYATE_INLINE=off`). */
  readonly inline: InlineLane | null;

  /**
   * @param modules compiled-module cache (shared with status reporting)
   * @param workers worker threads in the pool
   * @param options.heapMb JS heap of each worker (`HAYATE_WORKER_HEAP_MB`)
   * @param options.spares worker threads beyond `workers` for functions below their fair share (see pool.ts)
   * @param options.bundles functions' files; workers let go of a bundle when it leaves this cache
   * @param options.inline run short calls on the event-loop thread (see inline-lane.ts) @default true
   */
  constructor(
    private readonly modules: ModuleCache,
    workers: number,
    log: Logger,
    options: WasmPoolOptions & { bundles?: BundleCache; inline?: boolean } = {},
  ) {
    this.pool = new WasmPool(workers, log.child({ component: 'wasm-pool' }), options);
    this.inline = options.inline === false ? null : new InlineLane(log.child({ component: 'inline-lane' }));
    this.bundles = options.bundles;
    this.bundles?.onEvict((digest) => this.pool.forget(digest));
    this.modules.onEvict((digest, memoryMb) => this.pool.forgetModule(digest, memoryLimitBytes(memoryMb)));
    this.modules.onLoad((loaded) => this.loaded(loaded));
  }
  /** The files of a run: the bundle (fetched once per invoker) and where it goes. */
  private async filesOf(req: ExecutionRequest): Promise<{ files: RunFiles | null; cold: boolean }> {
    const { filesDigest, filesPath, filesWritable } = req.spec;
    if (filesDigest === '') return { files: null, cold: false };
    if (this.bundles === undefined) throw new HayateError('HAYATE_ERR_INTERNAL', `Cannot run ${req.fn} as this invoker has no bundle cache`);
    const { bundle, cold } = await this.bundles.get(filesDigest);
    return { files: { digest: filesDigest, path: filesPath || '/', writable: filesWritable, share: { data: bundle.data, root: bundle.index.root } }, cold };
  }

  /**
   * A module was compiled: every worker gets it now, and when a deploy brought it, one worker prepares the
   * function's first instance (its start section runs then, on the function's clock: see pool.ts), so the
   * first call pays neither.
   */
  private loaded({ digest, memoryMb, module, memory, fueled, spec }: LoadedModule): void {
    const limitBytes = memoryLimitBytes(memoryMb);
    this.pool.preload(digest, limitBytes, module);
    if (spec === undefined || spec.filesDigest !== '' || spec.policy === Policy.container) return;
    const shape = { digest, argv: [spec.name, ...spec.args], env: { ...spec.env }, memoryLimitBytes: limitBytes, memoryPages: memory, files: null };
    // both: a call that turns out too long for the lane runs on a worker, which then has its instance ready too
    if (this.inline !== null && fueled != null) this.inline.prepareAhead(fueled, shape);
    this.pool.prepareAhead(shape);
  }

  /** Starts and initialises the worker threads. */
  start(): Promise<void> {
    return this.pool.start();
  }

  get workers(): number {
    return this.pool.workers;
  }

  async invoke(req: ExecutionRequest, signal: CallSignal): Promise<ExecutionResult> {
    const t0 = performance.now();
    const [{ module, memory, fueled, cold: moduleCold }, { files, cold: filesCold }] = await Promise.all([this.modules.get(req.spec.digest, req.memoryMb), this.filesOf(req)]);
    const cold = moduleCold || filesCold;
    const loadUs = Math.round((performance.now() - t0) * 1000);
    const run: PoolRunMessage = {
      digest: req.spec.digest,
      module,
      argv: [req.fn, ...req.args],
      env: { ...req.env },
      // the input is a view into NATS's read buffer: posted as is, the worker would get a copy of the
      // whole buffer (structured clone copies a view's ArrayBuffer), 0.3 ms per call; an exact copy is µs,
      // and this run's own, so a large one is moved to the worker rather than copied again (moveInput)
      input: new Uint8Array(req.input),
      maxOutputBytes: req.maxOutputBytes,
      maxStderrBytes: req.maxStderrBytes,
      memoryLimitBytes: memoryLimitBytes(req.memoryMb),
      memoryPages: memory,
      files,
    };
    const inline = this.inline !== null && fueled !== null && !signal.aborted && this.inline.takes(req.fn) ? this.inline.run(req.fn, run, fueled) : null;
    const result = inline ?? (await this.pool.run(run, abortSignalOf(signal), req.fn, { moveInput: true }));
    if (result.type === 'timeout') {
      return { tier: Tier.wasm, outcome: { kind: 'timeout' }, stdout: new Uint8Array(0), stderr: new Uint8Array(0), coldStart: cold, startupUs: loadUs, execUs: Math.round((performance.now() - t0) * 1000) - loadUs, teardownUs: 0 };
    }
    return {
      tier: Tier.wasm,
      outcome: result.outcome,
      stdout: result.stdout,
      stderr: result.stderr,
      coldStart: cold,
      startupUs: loadUs + result.startupUs,
      execUs: result.execUs,
      teardownUs: result.teardownUs,
    };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
