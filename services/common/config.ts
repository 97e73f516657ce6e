/**
 * `loadConfig(env, overrides)` is the only reader of the environment. The result is validated and frozen;
 * every default lives in `DEFAULTS` below, every unit is in the field name.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname, totalmem } from 'node:os';
import { HayateError } from './errors';
import { isLogFormat, LOG_FORMATS } from './logger';
import type { LogFormat } from './logger';

const MiB = 1024 * 1024;

/** Limits a function gets when its spec does not say otherwise (SPEC §2). */
export interface FunctionDefaults {
  /** @default 128 */
  memoryMb: number;
  /** @default 10000 */
  timeoutMs: number;
  /** @default 6 MiB */
  maxInputBytes: number;
  /** @default 6 MiB */
  maxOutputBytes: number;
  /** @default 64 KiB */
  maxStderrBytes: number;
}

export interface Config {
  /** NATS server URL(s), comma-separated. Env `HAYATE_NATS_URL`. @default 'nats://127.0.0.1:4222' */
  natsUrl: string;
  /** Subject prefix. Env `HAYATE_PREFIX`. @default 'hayate' */
  subjectPrefix: string;
  /** Controller listen host. Env `HAYATE_HTTP_HOST`. @default '127.0.0.1' */
  httpHost: string;
  /** Controller listen port (0 = any free). Env `HAYATE_HTTP_PORT`. @default 8080 */
  httpPort: number;
  /** pino level. Env `HAYATE_LOG_LEVEL`. @default 'info' */
  logLevel: string;
  /**
   * Log lines: `json`, `pretty` (human lines: time, level, process, message, fields; colours on a terminal)
   * or `auto` (pretty when stderr is a terminal). Env `HAYATE_LOG_FORMAT`; flag `--log-format`.
   * @default 'auto' ('json' when the environment has `CI` set)
   */
  logFormat: LogFormat;
  /** Bearer keys for `/v1`; empty = no auth. Env `HAYATE_API_KEYS` (comma-separated). @default [] */
  apiKeys: readonly string[];
  /** Serve beyond loopback without API keys. @default false */
  insecure: boolean;
  /** Invoker id. Env `HAYATE_INVOKER_ID`. @default '<hostname>-<pid>' */
  invokerId: string;
  /** Edge site of this process, shown in status. Env `HAYATE_SITE`. @default '' */
  site: string;
  /** WASM worker threads per invoker. Env `HAYATE_WORKERS`. @default available cores */
  workers: number;
  /**
   * WASM worker threads kept beyond `workers` for functions below their fair share, so that one function
   * holding every worker cannot make another wait (the OS shares the cores between the threads).
   * Env `HAYATE_SPARE_WORKERS`. @default `workers`
   */
  spareWorkers: number;
  /**
   * Invoker-wide bound of the host memory its invocations may claim: each claims memory_mb +
   * max_output_bytes + max_stderr_bytes + its input; a call that would pass it is refused OVERLOADED.
   * Env `HAYATE_MEMORY_BUDGET_MB`. @default half the node's RAM
   */
  memoryBudgetBytes: number;
  /**
   * Controller-wide bound of the bytes of the sync invocations it relays at once (input, and as much again
   * for the answer): beyond it a call is refused OVERLOADED (503) at once, before NATS buffers fill and drop
   * the connection as a slow consumer. One call alone always passes. Env `HAYATE_MAX_RELAY_MB`. @default 96 MiB
   */
  maxRelayBytes: number;
  /**
   * JS heap (old generation) of each WASM worker thread, its `resourceLimits`: a run whose host structures
   * outgrow it ends with LIMIT_EXCEEDED and the worker alone is replaced. Linear memories are outside it
   * (bounded by `memory_mb`). Env `HAYATE_WORKER_HEAP_MB`. @default 512
   */
  workerHeapMb: number;
  /**
   * Docker images a function may name: prefixes of the image reference, comma-separated; `*` allows any.
   * Checked at deploy (400) and by the invoker before it starts a container. Env `HAYATE_IMAGE_PREFIXES`.
   * @default ['hayate-', 'hayate/'] (the images of scripts/build-images.sh are `hayate-example/<name>`)
   */
  imagePrefixes: readonly string[];
  /** Invoker-wide bound of queued + running invocations. Env `HAYATE_MAX_PENDING`. @default 1024 */
  maxPending: number;
  /** Invoker-wide bound of the input bytes those invocations hold. Env `HAYATE_MAX_PENDING_MB`. @default 256 MiB */
  maxPendingBytes: number;
  /** Bytes of compiled modules an invoker keeps (LRU). Env `HAYATE_MODULE_CACHE_MB`. @default 512 MiB */
  moduleCacheBytes: number;
  /** Largest module accepted at deploy. Env `HAYATE_MAX_MODULE_MB`. @default 64 MiB */
  maxModuleBytes: number;
  /**
   * Largest HTTP invoke body the controller reads (413 past it); a function's own `max_input_bytes` and the
   * NATS `max_payload` also apply. Env `HAYATE_MAX_REQUEST_MB`. @default 8 MiB (the `max_payload` of `hayate up`)
   */
  maxRequestBytes: number;
  /** Largest bundle of files (a tar) accepted by `PUT /v1/bundles`. Env `HAYATE_MAX_BUNDLE_MB`. @default 256 MiB */
  maxBundleBytes: number;
  /** Bytes of function bundles an invoker keeps in memory (LRU). Env `HAYATE_BUNDLE_CACHE_MB`. @default 1024 MiB */
  bundleCacheBytes: number;
  /** Upper bound on a graceful drain. Env `HAYATE_DRAIN_TIMEOUT_MS`. @default 15000 */
  drainTimeoutMs: number;
  /** Invocations before a function counts as hot (container warm-up in policy auto). Env `HAYATE_HOT_CALLS`. @default 20 */
  hotCalls: number;
  /** A warm container idle this long is removed. Env `HAYATE_CONTAINER_IDLE_MS`. @default 60000 */
  containerIdleMs: number;
  /** `hotCalls` within this window make a function hot. Env `HAYATE_HOT_WINDOW_MS`. @default 10000 */
  hotWindowMs: number;
  /**
   * A hot function gets a container only when its WASM runs (exec p50, the program alone) take at least this: a warm container call has a
   * fixed cost (a process spawn and a socket round trip, ≈1 ms here) that a shorter WASM run cannot win
   * back, and starting and retiring the container would only take CPU from the calls. Env `HAYATE_HOT_MIN_US`.
   * @default 1000
   */
  hotMinWasmUs: number;
  /** After a container failed or lost to WASM, wait this long before warming one again. Env `HAYATE_CONTAINER_RETRY_MS`. @default 300000 */
  containerRetryMs: number;
  /** Fetch and compile modules, and fetch bundles, when they are deployed, not at their first call. Env `HAYATE_PREFETCH` (`on`/`off`). @default true */
  prefetchModules: boolean;
  /** Use the container tier when Docker answers. Env `HAYATE_CONTAINERS` (`on`/`off`). @default true */
  containers: boolean;
  /**
   * CPUs the warm containers run on (Docker `CpusetCpus`, a list like `1-3` or `1,3`); '' = any CPU. By default every
   * CPU but the first, on a node with two or more: the first is left to the path every call takes through the
   * platform (the invoker's event loop, NATS, the caller), so that a container's process set-up and teardown
   * between calls do not take its CPU (warm container over NATS 1.93 → 1.74 ms on 2 cores). Each container's
   * `cpus` bound applies within them. Env `HAYATE_CONTAINER_CPUSET`.
   * @default every CPU but the first (none on a single CPU)
   */
  containerCpuset: string;
  /**
   * Run short WASM calls on the invoker's event-loop thread, fuel-metered, instead of handing each to a
   * worker thread (services/invoker/executors/wasm/inline-lane.ts). Env `HAYATE_INLINE` (`on`/`off`). @default true
   */
  inlineRuns: boolean;
  /**
   * Compile every function of a module when the invoker compiles it (on its module thread: deploy notice,
   * prefetch, or a first call that fetches it), not each at its first execution on the thread that runs it
   * (V8's lazy compilation, off with `--no-wasm-lazy-compilation` for the whole invoker process). A first run
   * of `upper` in process 300 → 105 µs, a first call after its deploy 0.17 ms shorter; a 270 KB module
   * (Lua) compiles in 37 ms instead of 18, and the code of functions that never run is kept too. Env
   * `HAYATE_WASM_EAGER` (`on`/`off`). @default true
   */
  wasmEagerCompile: boolean;
  /** Host path of the static container watchdog; '' = the project's build. Env `HAYATE_WATCHDOG`. @default '' */
  watchdogPath: string;
  /** Docker socket. Env `HAYATE_DOCKER_SOCKET`. @default '/var/run/docker.sock' */
  dockerSocket: string;
  /** Where the invoker keeps runtime files (container sockets). Env `HAYATE_RUNTIME_DIR`. @default '/tmp/hayate' */
  runtimeDir: string;
  /** Defaults of function limits. */
  functionDefaults: Readonly<FunctionDefaults>;
  /** Controller URL used by client verbs of the CLI. Env `HAYATE_URL`. @default 'http://127.0.0.1:8080' */
  controllerUrl: string;
  /** API key sent by client verbs as `Authorization: Bearer`. Env `HAYATE_API_KEY`. @default '' */
  apiKey: string;
  /** JetStream replicas of hayate's buckets and streams (3 on a hub cluster). Env `HAYATE_REPLICAS`. @default 1 */
  replicas: number;
  /**
   * JetStream domain of the hub that holds hayate's buckets and streams; '' = the JetStream of the server
   * connected to. Processes at an edge site set it to the hub's domain so their JetStream API calls cross the
   * site's leaf node (`$JS.<domain>.API.>`). Env `HAYATE_JS_DOMAIN`. @default ''
   */
  jsDomain: string;
  /** Port of the invoker's Prometheus `/metrics` listener; -1 = off, 0 = any free. Env `HAYATE_METRICS_PORT`. @default -1 */
  metricsPort: number;
  /** Listen address of the invoker's `/metrics`. Env `HAYATE_METRICS_HOST`. @default '127.0.0.1' */
  metricsHost: string;
  /** Beat period invokers are asked for while a sync call runs (SPEC §7). Env `HAYATE_BEAT_MS`. @default 500 */
  beatMs: number;
  /** Silence (no answer, no beat) after which a sync call is re-sent to another invoker. Env `HAYATE_DEAD_AFTER_MS`. @default 1500 */
  deadAfterMs: number;
  /** How long an activation record is kept in `hayate_activations`. Env `HAYATE_ACTIVATION_TTL_MS`. @default 86400000 (24 h) */
  activationTtlMs: number;
  /** An async invocation not started within this long after it was accepted is dropped as stale. Env `HAYATE_ASYNC_DEADLINE_MS`. @default 600000 */
  asyncDeadlineMs: number;
  /** Runs of an async invocation before its activation is `failed`. Env `HAYATE_ASYNC_MAX_ATTEMPTS`. @default 5 */
  asyncMaxAttempts: number;
  /** JetStream ack wait of the async consumer: an invoker silent this long is taken for dead. Env `HAYATE_ASYNC_ACK_WAIT_MS`. @default 3000 */
  asyncAckWaitMs: number;
  /** Async invocations one invoker runs at once (0 = its WASM workers). Env `HAYATE_ASYNC_CONCURRENCY`. @default 0 */
  asyncConcurrency: number;
  /** Append-only audit file where invokers log every execution start and answer (for chaos tests). Env `HAYATE_EXECUTION_LOG`. @default '' (off) */
  executionLogFile: string;
  /** Invokers publish stderr lines and a summary per invocation on `<prefix>.v1.logs.<fn>`. Env `HAYATE_LOGS` (`on`/`off`). @default true */
  logsEnabled: boolean;
  /** Log entries per second one invoker publishes per function (a token bucket; the rest is dropped and counted). Env `HAYATE_LOG_RATE`. @default 200 */
  logRatePerSec: number;
  /** Burst of that token bucket. Env `HAYATE_LOG_BURST`. @default 400 */
  logBurst: number;
  /** Bytes the logs stream keeps (oldest dropped first). Env `HAYATE_LOGS_MAX_MB`. @default 64 MiB */
  logsMaxBytes: number;
  /** Age past which the logs stream drops an entry. Env `HAYATE_LOGS_MAX_AGE_MS`. @default 86400000 (24 h) */
  logsMaxAgeMs: number;
  /** Bytes each trigger's stream keeps while its messages wait (new ones refused past it). Env `HAYATE_TRIGGER_MAX_MB`. @default 256 MiB */
  triggerMaxBytes: number;
}

/** Every default of the configuration. */
export const DEFAULTS: Readonly<Omit<Config, 'invokerId' | 'workers' | 'spareWorkers' | 'memoryBudgetBytes' | 'containerCpuset'>> = Object.freeze({
  natsUrl: 'nats://127.0.0.1:4222',
  subjectPrefix: 'hayate',
  httpHost: '127.0.0.1',
  httpPort: 8080,
  logLevel: 'info',
  logFormat: 'auto',
  apiKeys: [],
  insecure: false,
  site: '',
  maxRelayBytes: 96 * MiB,
  workerHeapMb: 512,
  imagePrefixes: Object.freeze(['hayate-', 'hayate/']),
  maxPending: 1024,
  maxPendingBytes: 256 * MiB,
  moduleCacheBytes: 512 * MiB,
  maxModuleBytes: 64 * MiB,
  maxRequestBytes: 8 * MiB,
  maxBundleBytes: 256 * MiB,
  bundleCacheBytes: 1024 * MiB,
  drainTimeoutMs: 15_000,
  hotCalls: 20,
  containerIdleMs: 60_000,
  hotWindowMs: 10_000,
  hotMinWasmUs: 1000,
  containerRetryMs: 300_000,
  prefetchModules: true,
  containers: true,
  inlineRuns: true,
  wasmEagerCompile: true,
  watchdogPath: '',
  dockerSocket: '/var/run/docker.sock',
  runtimeDir: '/tmp/hayate',
  controllerUrl: 'http://127.0.0.1:8080',
  apiKey: '',
  replicas: 1,
  jsDomain: '',
  metricsPort: -1,
  metricsHost: '127.0.0.1',
  beatMs: 500,
  deadAfterMs: 1500,
  activationTtlMs: 86_400_000,
  asyncDeadlineMs: 600_000,
  asyncMaxAttempts: 5,
  asyncAckWaitMs: 3000,
  asyncConcurrency: 0,
  executionLogFile: '',
  logsEnabled: true,
  logRatePerSec: 200,
  logBurst: 400,
  logsMaxBytes: 64 * MiB,
  logsMaxAgeMs: 86_400_000,
  triggerMaxBytes: 256 * MiB,
  functionDefaults: Object.freeze({
    memoryMb: 128,
    timeoutMs: 10_000,
    maxInputBytes: 6 * MiB,
    maxOutputBytes: 6 * MiB,
    maxStderrBytes: 64 * 1024,
  }),
});

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${key}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  }
  return n;
}

/** A CPU list (`HAYATE_CONTAINER_CPUSET`), else every online CPU but the first (see `Config.containerCpuset`). */
function cpuset(env: Env, key: string): string {
  const raw = env[key];
  if (raw !== undefined) {
    if (!/^(\d+(-\d+)?(,\d+(-\d+)?)*)?$/.test(raw)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid ${key}=${JSON.stringify(raw)}: expected a CPU list such as 1-3 or 1,3, or '' for any CPU`);
    return raw;
  }
  let online: number[];
  try {
    online = readFileSync('/sys/devices/system/cpu/online', 'utf8')
      .trim()
      .split(',')
      .flatMap((part) => {
        const [from, to = from] = part.split('-').map(Number) as [number, number?];
        return Array.from({ length: to - from + 1 }, (_, i) => from + i);
      });
  } catch {
    return '';
  }
  return online.length >= 2 && online.every(Number.isInteger) ? online.slice(1).join(',') : '';
}

/**
 * Reads the configuration from an environment and explicit overrides (CLI flags win over the environment).
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when a value is out of range
 */
export function loadConfig(env: Env, overrides: Partial<Config> = {}): Readonly<Config> {
  const keys = (env['HAYATE_API_KEYS'] ?? '').split(',').map((k) => k.trim()).filter((k) => k.length > 0);
  const workers = overrides.workers ?? int(env, 'HAYATE_WORKERS', availableParallelism(), 1, 256);
  const config: Config = {
    natsUrl: env['HAYATE_NATS_URL'] || DEFAULTS.natsUrl,
    subjectPrefix: env['HAYATE_PREFIX'] || DEFAULTS.subjectPrefix,
    httpHost: env['HAYATE_HTTP_HOST'] || DEFAULTS.httpHost,
    httpPort: int(env, 'HAYATE_HTTP_PORT', DEFAULTS.httpPort, 0, 65535),
    logLevel: env['HAYATE_LOG_LEVEL'] || DEFAULTS.logLevel,
    logFormat: logFormat(env),
    apiKeys: keys,
    insecure: DEFAULTS.insecure,
    invokerId: env['HAYATE_INVOKER_ID'] || `${hostname()}-${process.pid}`,
    site: env['HAYATE_SITE'] || DEFAULTS.site,
    workers,
    spareWorkers: int(env, 'HAYATE_SPARE_WORKERS', workers, 0, 256),
    memoryBudgetBytes: int(env, 'HAYATE_MEMORY_BUDGET_MB', Math.floor(totalmem() / MiB / 2), 64) * MiB,
    workerHeapMb: int(env, 'HAYATE_WORKER_HEAP_MB', DEFAULTS.workerHeapMb, 16, 65536),
    imagePrefixes: env['HAYATE_IMAGE_PREFIXES'] === undefined ? DEFAULTS.imagePrefixes : Object.freeze(env['HAYATE_IMAGE_PREFIXES'].split(',').map((p) => p.trim()).filter((p) => p.length > 0)),
    maxPending: int(env, 'HAYATE_MAX_PENDING', DEFAULTS.maxPending, 1),
    maxRelayBytes: int(env, 'HAYATE_MAX_RELAY_MB', DEFAULTS.maxRelayBytes / MiB, 1, 65536) * MiB,
    maxPendingBytes: int(env, 'HAYATE_MAX_PENDING_MB', DEFAULTS.maxPendingBytes / MiB, 1, 65536) * MiB,
    moduleCacheBytes: int(env, 'HAYATE_MODULE_CACHE_MB', DEFAULTS.moduleCacheBytes / MiB, 1) * MiB,
    maxModuleBytes: int(env, 'HAYATE_MAX_MODULE_MB', DEFAULTS.maxModuleBytes / MiB, 1, 1024) * MiB,
    maxRequestBytes: int(env, 'HAYATE_MAX_REQUEST_MB', DEFAULTS.maxRequestBytes / MiB, 1, 1024) * MiB,
    maxBundleBytes: int(env, 'HAYATE_MAX_BUNDLE_MB', DEFAULTS.maxBundleBytes / MiB, 1, 4096) * MiB,
    bundleCacheBytes: int(env, 'HAYATE_BUNDLE_CACHE_MB', DEFAULTS.bundleCacheBytes / MiB, 1) * MiB,
    drainTimeoutMs: int(env, 'HAYATE_DRAIN_TIMEOUT_MS', DEFAULTS.drainTimeoutMs, 0),
    hotCalls: int(env, 'HAYATE_HOT_CALLS', DEFAULTS.hotCalls, 1),
    containerIdleMs: int(env, 'HAYATE_CONTAINER_IDLE_MS', DEFAULTS.containerIdleMs, 100),
    hotWindowMs: int(env, 'HAYATE_HOT_WINDOW_MS', DEFAULTS.hotWindowMs, 1),
    hotMinWasmUs: int(env, 'HAYATE_HOT_MIN_US', DEFAULTS.hotMinWasmUs, 0),
    containerRetryMs: int(env, 'HAYATE_CONTAINER_RETRY_MS', DEFAULTS.containerRetryMs, 0),
    prefetchModules: (env['HAYATE_PREFETCH'] ?? 'on') !== 'off',
    containers: (env['HAYATE_CONTAINERS'] ?? 'on') !== 'off',
    containerCpuset: cpuset(env, 'HAYATE_CONTAINER_CPUSET'),
    inlineRuns: (env['HAYATE_INLINE'] ?? 'on') !== 'off',
    wasmEagerCompile: (env['HAYATE_WASM_EAGER'] ?? 'on') !== 'off',
    watchdogPath: env['HAYATE_WATCHDOG'] || DEFAULTS.watchdogPath,
    dockerSocket: env['HAYATE_DOCKER_SOCKET'] || DEFAULTS.dockerSocket,
    runtimeDir: env['HAYATE_RUNTIME_DIR'] || DEFAULTS.runtimeDir,
    functionDefaults: DEFAULTS.functionDefaults,
    controllerUrl: env['HAYATE_URL'] || DEFAULTS.controllerUrl,
    apiKey: env['HAYATE_API_KEY'] || DEFAULTS.apiKey,
    replicas: int(env, 'HAYATE_REPLICAS', DEFAULTS.replicas, 1, 5),
    jsDomain: env['HAYATE_JS_DOMAIN'] || DEFAULTS.jsDomain,
    metricsPort: int(env, 'HAYATE_METRICS_PORT', DEFAULTS.metricsPort, -1, 65535),
    metricsHost: env['HAYATE_METRICS_HOST'] || DEFAULTS.metricsHost,
    beatMs: int(env, 'HAYATE_BEAT_MS', DEFAULTS.beatMs, 50, 60_000),
    deadAfterMs: int(env, 'HAYATE_DEAD_AFTER_MS', DEFAULTS.deadAfterMs, 100, 600_000),
    activationTtlMs: int(env, 'HAYATE_ACTIVATION_TTL_MS', DEFAULTS.activationTtlMs, 1000),
    asyncDeadlineMs: int(env, 'HAYATE_ASYNC_DEADLINE_MS', DEFAULTS.asyncDeadlineMs, 100),
    asyncMaxAttempts: int(env, 'HAYATE_ASYNC_MAX_ATTEMPTS', DEFAULTS.asyncMaxAttempts, 1, 100),
    asyncAckWaitMs: int(env, 'HAYATE_ASYNC_ACK_WAIT_MS', DEFAULTS.asyncAckWaitMs, 500, 600_000),
    asyncConcurrency: int(env, 'HAYATE_ASYNC_CONCURRENCY', DEFAULTS.asyncConcurrency, 0, 1024),
    executionLogFile: env['HAYATE_EXECUTION_LOG'] || DEFAULTS.executionLogFile,
    logsEnabled: (env['HAYATE_LOGS'] ?? 'on') !== 'off',
    logRatePerSec: int(env, 'HAYATE_LOG_RATE', DEFAULTS.logRatePerSec, 1, 1_000_000),
    logBurst: int(env, 'HAYATE_LOG_BURST', DEFAULTS.logBurst, 1, 1_000_000),
    logsMaxBytes: int(env, 'HAYATE_LOGS_MAX_MB', DEFAULTS.logsMaxBytes / MiB, 1, 1_048_576) * MiB,
    logsMaxAgeMs: int(env, 'HAYATE_LOGS_MAX_AGE_MS', DEFAULTS.logsMaxAgeMs, 1000),
    triggerMaxBytes: int(env, 'HAYATE_TRIGGER_MAX_MB', DEFAULTS.triggerMaxBytes / MiB, 1, 1_048_576) * MiB,
    ...stripUndefined(overrides),
  };
  return Object.freeze(config);
}

function logFormat(env: Env): LogFormat {
  const raw = env['HAYATE_LOG_FORMAT'];
  if (raw === undefined || raw === '') return env['CI'] ? 'json' : DEFAULTS.logFormat;
  if (!isLogFormat(raw)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid HAYATE_LOG_FORMAT=${JSON.stringify(raw)}: expected ${LOG_FORMATS.join(', ')}`);
  return raw;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
