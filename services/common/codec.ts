/**
 * The protobuf codec: the only module that touches the generated protobufjs code.
 * Decoding failures become `HAYATE_ERR_BAD_REQUEST`; protobuf enums are mapped to string unions here.
 */
import './protobuf-setup';
import { hayate } from './gen/hayate';
import { errorCodeOf, HayateError, StatusName } from './errors';
import type { ErrorCode } from './errors';

const pb = hayate.v1;

/** Where a function ran. */
export const Tier = { wasm: 'wasm', container: 'container' } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

/** Per-step durations in microseconds. */
export interface Timings {
  queueUs: number;
  startupUs: number;
  execUs: number;
  teardownUs: number;
  totalUs: number;
}

/** A decoded `hayate.v1.InvokeRequest`. */
export interface InvokeRequest {
  invocationId: string;
  function: string;
  input: Uint8Array;
  args: string[];
  env: Record<string, string>;
  /** 0 = the function's own timeout. */
  timeoutMs: number;
  /** 0 = none. */
  deadlineUnixMs: number;
  attempt: number;
}

/** A decoded `hayate.v1.InvokeResponse`. */
export interface InvokeResponse {
  invocationId: string;
  status: StatusName;
  exitCode: number;
  output: Uint8Array;
  stderr: Uint8Array;
  tier: Tier;
  invokerId: string;
  coldStart: boolean;
  timings: Timings;
  /** HAYATE_ERR_* when status is not OK, else ''. */
  errorCode: ErrorCode | '';
  errorMessage: string;
  attempt: number;
}

/** Tier policies of a function (SPEC §2). */
export const Policy = { auto: 'auto', wasm: 'wasm', container: 'container' } as const;
export type Policy = (typeof Policy)[keyof typeof Policy];

/** True when `value` names a policy. */
export function isPolicy(value: unknown): value is Policy {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(Policy, value);
}

/** A deployed function's spec (`hayate.v1.FunctionSpec`). */
export interface FunctionSpec {
  name: string;
  digest: string;
  moduleBytes: number;
  version: number;
  image: string;
  policy: Policy;
  memoryMb: number;
  timeoutMs: number;
  maxConcurrency: number;
  maxInputBytes: number;
  maxOutputBytes: number;
  maxStderrBytes: number;
  args: string[];
  env: Record<string, string>;
  createdUnixMs: number;
  minMemoryPages: number;
  /** sha256 hex of the function's bundle of files (a tar in `hayate_bundles`); '' = none. */
  filesDigest: string;
  /** Bytes of that tar. */
  filesBytes: number;
  /** Where the files appear in both tiers; '' = '/'. */
  filesPath: string;
  /** WASM runs write to their own copy-on-write layer instead of failing with EROFS. */
  filesWritable: boolean;
}

export interface TierStats {
  invocations: number;
  errors: number;
  p50Us: number;
  p99Us: number;
}

/** One change of a function's tier state on one invoker, and why. */
export interface TierTransition {
  from: string;
  to: string;
  reason: string;
  atUnixMs: number;
}

export interface FunctionState {
  name: string;
  state: string;
  digest: string;
  wasm: TierStats;
  container: TierStats;
  inFlight: number;
  lastError: string;
  lastUsedUnixMs: number;
  /** The last few tier changes, oldest first. */
  transitions: TierTransition[];
}

/** What an invoker answers on `hayate.v1.status`. */
export interface InvokerStatus {
  invokerId: string;
  state: string;
  hostname: string;
  pid: number;
  startedUnixMs: number;
  workers: number;
  inFlight: number;
  invocations: number;
  containerTier: boolean;
  containerReason: string;
  functions: FunctionState[];
  moduleCacheBytes: number;
  site: string;
  /** Bytes of bundles held in memory (LRU). */
  bundleCacheBytes: number;
  /** Bundles read from the object store since start, and their bytes. */
  bundleFetches: number;
  bundleFetchBytes: number;
}

/** Where an async invocation is (SPEC §7): `queued` → `running` → `succeeded` | `failed`. */
export const ActivationState = { queued: 'queued', running: 'running', succeeded: 'succeeded', failed: 'failed' } as const;
export type ActivationState = (typeof ActivationState)[keyof typeof ActivationState];

/** The record of one async invocation (`hayate.v1.Activation`), kept in KV `hayate_activations`. */
export interface Activation {
  activationId: string;
  function: string;
  state: ActivationState;
  /** Why it failed, or why the last attempt was given up; '' otherwise. */
  reason: string;
  /** Deliveries to invokers so far. */
  attempts: number;
  maxAttempts: number;
  /** Status of the last answer (OK until one came). */
  status: StatusName;
  exitCode: number;
  output: Uint8Array;
  stderr: Uint8Array;
  timings: Timings;
  tier: Tier;
  invokerId: string;
  /** HAYATE_ERR_* when failed, else ''. */
  errorCode: ErrorCode | '';
  createdUnixMs: number;
  startedUnixMs: number;
  finishedUnixMs: number;
  deadlineUnixMs: number;
}

const STATE_TO_PB: Record<ActivationState, hayate.v1.ActivationState> = {
  queued: pb.ActivationState.QUEUED,
  running: pb.ActivationState.RUNNING,
  succeeded: pb.ActivationState.SUCCEEDED,
  failed: pb.ActivationState.FAILED,
};

const TIER_TO_PB: Record<Tier, hayate.v1.Tier> = { wasm: pb.Tier.WASM, container: pb.Tier.CONTAINER };

/**
 * protobufjs reads a Node Buffer (what nats.js hands out) with a reader that cuts a truncated string field
 * short instead of failing; through a plain Uint8Array view it uses the reader that checks every length.
 */
function strict(data: Uint8Array): Uint8Array {
  return Buffer.isBuffer(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : data;
}

function decodeWith<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Cannot decode ${what}: ${reason}`, { cause: err });
  }
}

function statusFromPb(value: hayate.v1.Status): StatusName {
  const name = pb.Status[value];
  return typeof name === 'string' && name in StatusName ? (name as StatusName) : StatusName.INTERNAL;
}

function tierFromPb(value: hayate.v1.Tier): Tier {
  return value === pb.Tier.CONTAINER ? Tier.container : Tier.wasm;
}

const bytes = (b: Uint8Array | null | undefined): Uint8Array => b ?? new Uint8Array(0);

/** Encodes an InvokeRequest. */
export function encodeInvokeRequest(req: InvokeRequest): Uint8Array {
  return pb.InvokeRequest.encode(req).finish();
}

/**
 * Decodes an InvokeRequest.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes
 */
export function decodeInvokeRequest(data: Uint8Array): InvokeRequest {
  const m = decodeWith('InvokeRequest', () => pb.InvokeRequest.decode(strict(data)));
  return {
    invocationId: m.invocationId,
    function: m.function,
    input: bytes(m.input),
    args: m.args,
    env: m.env,
    timeoutMs: m.timeoutMs,
    deadlineUnixMs: m.deadlineUnixMs,
    attempt: m.attempt,
  };
}

/** Encodes an InvokeResponse. */
export function encodeInvokeResponse(res: InvokeResponse): Uint8Array {
  return pb.InvokeResponse.encode({
    ...res,
    status: pb.Status[res.status],
    tier: TIER_TO_PB[res.tier],
  }).finish();
}

/**
 * Decodes an InvokeResponse.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes
 */
export function decodeInvokeResponse(data: Uint8Array): InvokeResponse {
  const m = decodeWith('InvokeResponse', () => pb.InvokeResponse.decode(strict(data)));
  const t = m.timings;
  return {
    invocationId: m.invocationId,
    status: statusFromPb(m.status),
    exitCode: m.exitCode,
    output: bytes(m.output),
    stderr: bytes(m.stderr),
    tier: tierFromPb(m.tier),
    invokerId: m.invokerId,
    coldStart: m.coldStart,
    timings: {
      queueUs: t?.queueUs ?? 0,
      startupUs: t?.startupUs ?? 0,
      execUs: t?.execUs ?? 0,
      teardownUs: t?.teardownUs ?? 0,
      totalUs: t?.totalUs ?? 0,
    },
    errorCode: errorCodeOf(m.errorCode),
    errorMessage: m.errorMessage,
    attempt: m.attempt,
  };
}

function timingsOf(t: hayate.v1.ITimings | null | undefined): Timings {
  return { queueUs: t?.queueUs ?? 0, startupUs: t?.startupUs ?? 0, execUs: t?.execUs ?? 0, teardownUs: t?.teardownUs ?? 0, totalUs: t?.totalUs ?? 0 };
}

function activationStateFromPb(value: hayate.v1.ActivationState): ActivationState {
  switch (value) {
    case pb.ActivationState.RUNNING:
      return ActivationState.running;
    case pb.ActivationState.SUCCEEDED:
      return ActivationState.succeeded;
    case pb.ActivationState.FAILED:
      return ActivationState.failed;
    default:
      return ActivationState.queued;
  }
}

/** Encodes an Activation. */
export function encodeActivation(a: Activation): Uint8Array {
  return pb.Activation.encode({ ...a, state: STATE_TO_PB[a.state], status: pb.Status[a.status], tier: TIER_TO_PB[a.tier] }).finish();
}

/**
 * Decodes an Activation.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes
 */
export function decodeActivation(data: Uint8Array): Activation {
  const m = decodeWith('Activation', () => pb.Activation.decode(strict(data)));
  return {
    activationId: m.activationId,
    function: m.function,
    state: activationStateFromPb(m.state),
    reason: m.reason,
    attempts: m.attempts,
    maxAttempts: m.maxAttempts,
    status: statusFromPb(m.status),
    exitCode: m.exitCode,
    output: bytes(m.output),
    stderr: bytes(m.stderr),
    timings: timingsOf(m.timings),
    tier: tierFromPb(m.tier),
    invokerId: m.invokerId,
    errorCode: errorCodeOf(m.errorCode),
    createdUnixMs: m.createdUnixMs,
    startedUnixMs: m.startedUnixMs,
    finishedUnixMs: m.finishedUnixMs,
    deadlineUnixMs: m.deadlineUnixMs,
  };
}

/** Encodes a FunctionSpec. */
export function encodeFunctionSpec(spec: FunctionSpec): Uint8Array {
  return pb.FunctionSpec.encode(spec).finish();
}

/**
 * Decodes a FunctionSpec.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes
 */
export function decodeFunctionSpec(data: Uint8Array): FunctionSpec {
  return specOf(decodeWith('FunctionSpec', () => pb.FunctionSpec.decode(strict(data))));
}

function specOf(m: hayate.v1.FunctionSpec): FunctionSpec {
  const spec = pb.FunctionSpec.toObject(m, { defaults: true, arrays: true, objects: true, longs: Number }) as Omit<FunctionSpec, 'policy'> & { policy: string };
  const policy = spec.policy === '' ? Policy.auto : spec.policy;
  if (!isPolicy(policy)) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Cannot decode FunctionSpec ${spec.name}: unknown policy ${JSON.stringify(policy)}`);
  return { ...spec, policy };
}

/** A deploy as the controller announces it (`<prefix>.v1.deployed.<fn>`): the stored spec, and the module when small. */
export interface DeployNotice {
  spec: FunctionSpec;
  /** The module's bytes, or empty: read it from the object store. */
  module: Uint8Array;
}

/** Encodes a DeployNotice. */
export function encodeDeployNotice(notice: DeployNotice): Uint8Array {
  return pb.DeployNotice.encode(notice).finish();
}

/**
 * Decodes a DeployNotice.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes or a notice without a spec
 */
export function decodeDeployNotice(data: Uint8Array): DeployNotice {
  const m = decodeWith('DeployNotice', () => pb.DeployNotice.decode(strict(data)));
  if (m.spec == null) throw new HayateError('HAYATE_ERR_BAD_REQUEST', 'Cannot decode DeployNotice: it has no spec');
  return { spec: specOf(m.spec as hayate.v1.FunctionSpec), module: m.module };
}

/** Encodes an InvokerStatus. */
export function encodeInvokerStatus(status: InvokerStatus): Uint8Array {
  return pb.InvokerStatus.encode(status).finish();
}

/**
 * Decodes an InvokerStatus.
 * @throws HayateError HAYATE_ERR_BAD_REQUEST on malformed bytes
 */
export function decodeInvokerStatus(data: Uint8Array): InvokerStatus {
  const m = decodeWith('InvokerStatus', () => pb.InvokerStatus.decode(strict(data)));
  return pb.InvokerStatus.toObject(m, { defaults: true, arrays: true, objects: true, longs: Number }) as InvokerStatus;
}
