/**
 * The hybrid tier policy (SPEC §3) with fake tiers: no Docker, no WASM, every move of the state machine
 * driven call by call. The same policy runs against real tiers in container-tier.test.ts.
 */
import test from 'ava';
import pino from 'pino';
import type { FunctionSpec, Tier } from '../services/common/codec';
import type { FunctionName, InvocationId } from '../services/common/names';
import type { ExecutionRequest, ExecutionResult, Executor } from '../services/invoker/executor';
import { FunctionRuntime, TierState } from '../services/invoker/function-runtime';
import { HybridRouter } from '../services/invoker/hybrid-router';
import type { HybridSettings } from '../services/invoker/hybrid-router';
import type { ContainerTier, WasmTier } from '../services/invoker/tier-router';
import { WasmOnlyRouter } from '../services/invoker/wasm-only-router';

const log = pino({ level: 'silent' });

function result(tier: Tier): ExecutionResult {
  return { tier, outcome: { kind: 'exited', exitCode: 0 }, stdout: new Uint8Array(0), stderr: new Uint8Array(0), coldStart: false, startupUs: 0, execUs: 0, teardownUs: 0 };
}

class FakeWasm implements WasmTier {
  readonly tier = 'wasm' as const;
  readonly workers = 2;
  closed = false;
  async invoke(): Promise<ExecutionResult> {
    return result('wasm');
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

class FakeContainers implements ContainerTier {
  readonly tier = 'container' as const;
  readonly ready = new Set<string>();
  readonly removed: string[] = [];
  idleNow: string[] = [];
  /** Settles the pending warm-up: true = ready, false = failed. */
  finishWarm: (ok: boolean) => void = () => {};
  closed = false;
  async invoke(): Promise<ExecutionResult> {
    return result('container');
  }
  isReady(spec: FunctionSpec): boolean {
    return this.ready.has(spec.name);
  }
  warm(spec: FunctionSpec): Promise<void> {
    return new Promise((resolve, reject) => {
      this.finishWarm = (ok) => {
        if (ok) {
          this.ready.add(spec.name);
          resolve();
        } else reject(new Error('image not found'));
      };
    });
  }
  async remove(fn: string): Promise<void> {
    this.ready.delete(fn);
    this.removed.push(fn);
  }
  idle(): string[] {
    return this.idleNow;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function spec(over: Partial<FunctionSpec> = {}): FunctionSpec {
  return {
    name: 'fn', digest: 'd', moduleBytes: 1, version: 1, image: 'hayate-example/fn', policy: 'auto', memoryMb: 64, timeoutMs: 1000, maxConcurrency: 0,
    maxInputBytes: 1, maxOutputBytes: 1, maxStderrBytes: 1, args: [], env: {}, createdUnixMs: 0, minMemoryPages: 0,
    filesDigest: '', filesBytes: 0, filesPath: '', filesWritable: false, ...over,
  };
}

function requestOf(s: FunctionSpec): ExecutionRequest {
  return { invocationId: 'i' as InvocationId, fn: 'fn' as FunctionName, spec: s, input: new Uint8Array(0), args: [], env: {}, deadlineUnixMs: 0, memoryMb: 64, maxOutputBytes: 1, maxStderrBytes: 1 };
}

function setup(over: Partial<FunctionSpec> = {}, settings: Partial<HybridSettings> = {}) {
  const wasm = new FakeWasm();
  const containers = new FakeContainers();
  const router = new HybridRouter(wasm, containers, { hotCalls: 3, hotWindowMs: 60_000, containerIdleMs: 60_000, retryAfterMs: 60_000, ...settings }, log);
  const runtime = new FunctionRuntime('fn', log);
  const request = requestOf(spec(over));
  /** One call: the router chooses, the chosen tier answers in `us[tier]` µs, the router observes. */
  const call = (us: Record<Tier, number>): Executor => {
    const executor = router.choose(runtime, request);
    runtime.record(executor.tier, us[executor.tier], false);
    router.observe(runtime, request, { ...result(executor.tier), execUs: us[executor.tier] }, us[executor.tier]);
    return executor;
  };
  return { wasm, containers, router, runtime, request, call };
}

const settle = () => new Promise((r) => setImmediate(r));

test('hybrid router moves a function cold → wasm on its first WASM run and → warming once hot', async (t) => {
  const { router, runtime, call } = setup();
  t.is(runtime.state, TierState.cold);
  call({ wasm: 100, container: 50 });
  t.is(runtime.state, TierState.wasm);
  call({ wasm: 100, container: 50 });
  t.is(runtime.state, TierState.wasm);
  call({ wasm: 100, container: 50 });
  t.is(runtime.state, TierState.warming);
  // warming never blocks: calls go on in WASM
  t.is(call({ wasm: 100, container: 50 }).tier, 'wasm');
  await router.close();
});

test('hybrid router starts no container for a hot function whose WASM runs are shorter than a container call can be', (t) => {
  const { containers, runtime, call } = setup({}, { minWasmUs: 1000 });
  // the exec p50 of the last `hotCalls` (3) WASM runs decides
  for (let i = 0; i < 10; i += 1) call({ wasm: 300, container: 50 });
  t.is(runtime.state, TierState.wasm, 'hot, but a 0.3 ms WASM run cannot win back a container call');
  t.is(containers.ready.size, 0);
  for (let i = 0; i < 3 && runtime.state === TierState.wasm; i += 1) call({ wasm: 5000, container: 50 });
  t.is(runtime.state, TierState.warming, 'once its WASM p50 passes the bound, it is warmed');
});

test('hybrid router routes to the faster container once ready and explores WASM one call in 16, one in 64 where WASM is 1.5× slower or more', async (t) => {
  const { router, runtime, containers, call } = setup();
  for (let i = 0; i < 3; i += 1) call({ wasm: 100, container: 50 });
  containers.finishWarm(true);
  await settle();
  t.is(runtime.state, TierState.container);
  // the container's first SETTLE_CALLS (16) calls alternate with WASM, unmeasured…
  const first = Array.from({ length: 31 }, () => call({ wasm: 100, container: 50 }).tier);
  t.deepEqual(first, Array.from({ length: 31 }, (_, i) => (i % 2 === 0 ? 'container' : 'wasm')));
  // …then side by side until both tiers have COMPARE_FIRST (12) figures since the container is ready (WASM has 16)
  const compared = Array.from({ length: 12 }, () => call({ wasm: 100, container: 50 }).tier);
  t.deepEqual(compared, Array.from({ length: 12 }, () => 'container'));
  const far = Array.from({ length: 128 }, () => call({ wasm: 100, container: 50 }).tier);
  t.is(far.filter((x) => x === 'wasm').length, 2, 'WASM at 2× the container: one call in 64 explores it');
  // the container slower, WASM now 1.25× it: not far, one call in 16 again
  for (let i = 0; i < 200; i += 1) call({ wasm: 100, container: 80 });
  const tiers = Array.from({ length: 64 }, () => call({ wasm: 100, container: 80 }).tier);
  const toWasm = tiers.filter((x) => x === 'wasm').length;
  t.is(toWasm, 4, `calls explored in WASM: ${toWasm} of 64`);
  t.is(runtime.state, TierState.container);
  await router.close();
});

test('hybrid router judges a ready container against WASM runs of the same stretch, not against the WASM runs before it', async (t) => {
  const { router, runtime, call } = setup();
  for (let i = 0; i < 3; i += 1) call({ wasm: 500, container: 110 });
  t.is(runtime.state, TierState.warming);
  // while the container starts, WASM runs slowly (baseline code, cold caches, a slow stretch of the machine)…
  for (let i = 0; i < 40; i += 1) call({ wasm: 500, container: 110 });
  const { containers } = router as unknown as { containers: FakeContainers };
  containers.finishWarm(true);
  await settle();
  t.is(runtime.state, TierState.container);
  // …then faster than the container: those old runs must not send the calls to the slower tier
  for (let i = 0; i < 44; i += 1) call({ wasm: 100, container: 110 });
  const tiers = Array.from({ length: 64 }, () => call({ wasm: 100, container: 110 }).tier);
  t.is(tiers.filter((x) => x === 'container').length, 4, 'only the explored calls go to the container');
  await router.close();
});

test('hybrid router explores one call in 4 near a tie, so a container that became faster takes the calls within a few hundred', async (t) => {
  const { router, runtime, containers, call } = setup();
  for (let i = 0; i < 3; i += 1) call({ wasm: 100, container: 100 });
  containers.finishWarm(true);
  await settle();
  // the first figures side by side: a tie (a fresh container is at its slowest), so WASM keeps the calls…
  for (let i = 0; i < 44; i += 1) call({ wasm: 100, container: 100 });
  const tied = Array.from({ length: 64 }, () => call({ wasm: 100, container: 100 }).tier);
  t.is(tied.filter((x) => x === 'container').length, 16, 'near a tie, one call in 4 goes to the tier not chosen');
  // …then the container answers 10 % faster: its window fills with the new figures through those calls
  for (let i = 0; i < 200; i += 1) call({ wasm: 100, container: 90 });
  const after = Array.from({ length: 64 }, () => call({ wasm: 100, container: 90 }).tier);
  t.is(after.filter((x) => x === 'wasm').length, 4, 'the container has the calls, WASM one in 16');
  await router.close();
});

test('hybrid router does not judge a container by its first calls, its slowest', async (t) => {
  const { router, runtime, containers, call } = setup();
  for (let i = 0; i < 3; i += 1) call({ wasm: 100, container: 50 });
  containers.finishWarm(true);
  await settle();
  // a fresh container: its first 16 calls at 5× WASM, which would retire it at once were they figures
  let slow = 0;
  while (slow < 16) if (call({ wasm: 100, container: 500 }).tier === 'container') slow += 1;
  t.is(runtime.state, TierState.container);
  for (let i = 0; i < 40; i += 1) call({ wasm: 100, container: 50 });
  t.is(runtime.state, TierState.container, 'settled, it is not retired');
  const tiers = Array.from({ length: 64 }, () => call({ wasm: 100, container: 50 }).tier);
  t.is(tiers.filter((x) => x === 'container').length, 63, 'and it takes the calls, WASM (2× slower) one in 64');
  await router.close();
});

test('hybrid router judges calls under load apart from calls alone: a container slower only under a burst keeps the calls alone, and is retired only when it loses under both', async (t) => {
  const { router, runtime, containers, call } = setup();
  /** A call while another call of the function is on the invoker, counted in `inFlight` as the runner does. */
  const busyCall = (us: Record<Tier, number>): Tier => {
    runtime.inFlight = 2;
    const executor = router.choose(runtime, requestOf(spec()));
    runtime.inFlight = 1; // this call's end: the other is still running
    router.observe(runtime, requestOf(spec()), { ...result(executor.tier), execUs: us[executor.tier] }, us[executor.tier]);
    runtime.inFlight = 0;
    return executor.tier;
  };
  for (let i = 0; i < 3; i += 1) call({ wasm: 100, container: 50 });
  containers.finishWarm(true);
  await settle();
  for (let i = 0; i < 44; i += 1) call({ wasm: 100, container: 50 });
  // a burst: the container 3× WASM under load (its calls side by side on fewer CPUs)
  for (let i = 0; i < 200; i += 1) busyCall({ wasm: 100, container: 300 });
  t.is(runtime.state, TierState.container, 'not retired: alone it is the faster tier');
  const underLoad = Array.from({ length: 64 }, () => busyCall({ wasm: 100, container: 300 }));
  t.is(underLoad.filter((x) => x === 'container').length, 1, 'under load the calls go to WASM, the container (3× slower) one in 64');
  const alone = Array.from({ length: 64 }, () => call({ wasm: 100, container: 50 }).tier);
  t.is(alone.filter((x) => x === 'container').length, 63, 'after the burst, calls alone go to the container at once');
  // now slower alone too: retired, with both figures
  for (let i = 0; i < 2000 && runtime.state === TierState.container; i += 1) call({ wasm: 100, container: 500 });
  t.is(runtime.state, TierState.wasm);
  t.regex(runtime.lastError, /slower than WASM \(p50 500 µs vs 100 µs alone; p50 300 µs vs 100 µs under load\)/);
  await router.close();
});

test('hybrid router retires a container that stays slower than WASM and says why', async (t) => {
  const { router, runtime, containers, call } = setup();
  for (let i = 0; i < 3; i += 1) call({ wasm: 100, container: 500 });
  containers.finishWarm(true);
  await settle();
  for (let i = 0; i < 200 && runtime.state === TierState.container; i += 1) call({ wasm: 100, container: 500 });
  t.is(runtime.state, TierState.wasm);
  t.regex(runtime.lastError, /slower than WASM/);
  t.deepEqual(containers.removed, ['fn']);
  // quiet after a retirement: hot again, but no new warming within retryAfterMs
  for (let i = 0; i < 5; i += 1) call({ wasm: 100, container: 500 });
  t.is(runtime.state, TierState.wasm);
  await router.close();
});

test('hybrid router falls back to WASM when the container fails to start or fails under a call', async (t) => {
  const started = setup();
  for (let i = 0; i < 3; i += 1) started.call({ wasm: 100, container: 50 });
  started.containers.finishWarm(false);
  await settle();
  t.is(started.runtime.state, TierState.wasm);
  t.is(started.runtime.lastError, 'image not found');

  const failed = setup();
  for (let i = 0; i < 3; i += 1) failed.call({ wasm: 100, container: 50 });
  failed.containers.finishWarm(true);
  await settle();
  failed.router.observe(failed.runtime, failed.request, null, 0);
  t.is(failed.runtime.state, TierState.wasm);
  t.is(failed.runtime.lastError, 'container failed during a call');
  await Promise.all([started.router.close(), failed.router.close()]);
});

test('hybrid router keeps policy wasm in WASM and sends policy container to the container', async (t) => {
  const wasmOnly = setup({ policy: 'wasm' });
  for (let i = 0; i < 10; i += 1) t.is(wasmOnly.call({ wasm: 500, container: 1 }).tier, 'wasm');
  t.is(wasmOnly.runtime.state, TierState.wasm);
  const container = setup({ policy: 'container' });
  t.is(container.call({ wasm: 1, container: 500 }).tier, 'container');
  t.is(container.runtime.state, TierState.container);
  await Promise.all([wasmOnly.router.close(), container.router.close()]);
});

test('hybrid router moves an idle container back to WASM and closes both tiers it owns', async (t) => {
  const { wasm, containers, router, runtime, request } = setup({}, { hotCalls: 1, containerIdleMs: 40, retryAfterMs: 0 });
  router.choose(runtime, request);
  router.observe(runtime, request, result('wasm'), 100);
  containers.finishWarm(true);
  await settle();
  t.is(runtime.state, TierState.container);
  containers.idleNow = ['fn'];
  for (let i = 0; i < 100 && runtime.state === TierState.container; i += 1) await new Promise((r) => setTimeout(r, 20));
  t.is(runtime.state, TierState.wasm);
  t.true(containers.removed.includes('fn'));
  await router.close();
  t.true(wasm.closed && containers.closed);
});

test('wasm-only router refuses policy container with the reason and owns the WASM tier', async (t) => {
  const wasm = new FakeWasm();
  const router = new WasmOnlyRouter(wasm, 'no Docker engine socket');
  const runtime = new FunctionRuntime('fn', log);
  const request = requestOf(spec({ policy: 'container' }));
  const err = t.throws(() => router.choose(runtime, request));
  t.regex(err?.message ?? '', /no Docker engine socket/);
  router.observe(runtime, request, result('wasm'), 100);
  t.is(runtime.state, TierState.wasm);
  t.is(router.capacity, 2);
  await router.close();
  t.true(wasm.closed);
});
