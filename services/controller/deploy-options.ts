/**
 * Turns a deploy request (module bytes + query options) into a validated `FunctionSpec` (SPEC §5).
 */
import type { FunctionSpec } from '../common/codec';
import { isPolicy, Policy } from '../common/codec';
import type { FunctionDefaults } from '../common/config';
import { HayateError } from '../common/errors';
import { withDefaults } from '../common/function-defaults';
import type { FunctionName } from '../common/names';
import { checkImage } from '../common/images';
import type { ModuleFootprint } from '../common/module-bounds';
import { checkFootprint, measureModule } from '../common/module-bounds';
import type { ModuleShape } from '../common/wasm-module';
import { inspectModule, PAGES_PER_MIB } from '../common/wasm-module';
import type { FilesSpec } from './bundles';
import { filesView } from './bundles';
import type { DeployQuery } from './deploy-query';
import { singleOption } from './deploy-query';

export type { DeployQuery } from './deploy-query';

const IMAGE = /^[a-z0-9][a-z0-9._\-/:@]{0,254}$/i;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function intOption(q: DeployQuery, key: string, min: number, max: number, fallback: number): number {
  const raw = singleOption(q, key);
  if (raw === undefined || raw === '') return fallback;
  // decimal digits only: Number() would also take "1e3", "0x10" or " 12 "
  const n = /^-?\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option ${key}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  return n;
}

/**
 * Validates a deploy and builds the spec (digest and version are filled in by the store).
 * @param imagePrefixes the images a function may name (`HAYATE_IMAGE_PREFIXES`)
 * @param inspected the module's shape and footprint when already read off the event loop (`ModuleWorker.inspect`);
 *   read here otherwise
 * @throws HayateError HAYATE_ERR_INVALID_MODULE for a module hayate cannot run, HAYATE_ERR_INVALID_OPTION for a bad option,
 *   HAYATE_ERR_IMAGE_NOT_ALLOWED for an image outside `imagePrefixes`
 */
export function buildSpec(
  name: FunctionName,
  module: Uint8Array,
  q: DeployQuery,
  defaults: FunctionDefaults,
  imagePrefixes: readonly string[],
  inspected: { shape: ModuleShape; footprint: ModuleFootprint } = { shape: inspectModule(module), footprint: measureModule(module) },
): Omit<FunctionSpec, 'digest' | 'version' | keyof FilesSpec> {
  const { shape } = inspected;
  const memoryMb = intOption(q, 'memory_mb', 1, 4096, 0) || defaults.memoryMb;
  if (shape.minMemoryPages > memoryMb * PAGES_PER_MIB) {
    throw new HayateError('HAYATE_ERR_INVALID_MODULE', `Cannot deploy function as module needs ${Math.ceil(shape.minMemoryPages / PAGES_PER_MIB)} MiB of memory to start and memory_mb is ${memoryMb}`);
  }
  checkFootprint(inspected.footprint, memoryMb, 'deploy function');
  const policy = singleOption(q, 'policy') ?? Policy.auto;
  if (!isPolicy(policy)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option policy=${JSON.stringify(policy)}: expected auto, wasm or container`);
  const image = singleOption(q, 'image') ?? '';
  if (image !== '' && !IMAGE.test(image)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option image=${JSON.stringify(image)}: not a Docker image reference`);
  if (image !== '') checkImage(image, imagePrefixes, 'deploy function');
  if (policy === Policy.container && image === '') throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Cannot deploy function with policy container as it has no image (set image=...)');
  const env: Record<string, string> = {};
  for (const pair of list(q['env'])) {
    const eq = pair.indexOf('=');
    const key = eq > 0 ? pair.slice(0, eq) : '';
    if (!ENV_KEY.test(key)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option env=${JSON.stringify(pair)}: expected KEY=VALUE with KEY matching [A-Za-z_][A-Za-z0-9_]*`);
    // the guest's environ is NUL-terminated: a NUL would cut the value short (a request's env gets 400 too)
    if (pair.includes('\0')) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option env=${JSON.stringify(key)}=…: values cannot contain NUL`);
    env[key] = pair.slice(eq + 1);
  }
  const args = list(q['arg']);
  if (args.some((a) => a.includes('\0'))) throw new HayateError('HAYATE_ERR_INVALID_OPTION', 'Invalid option arg: arguments cannot contain NUL');
  const MiB = 1024 * 1024;
  return withDefaults({
    name,
    moduleBytes: module.byteLength,
    image,
    policy,
    memoryMb,
    timeoutMs: intOption(q, 'timeout_ms', 1, 15 * 60_000, 0),
    maxConcurrency: intOption(q, 'max_concurrency', 0, 1024, 0),
    maxInputBytes: intOption(q, 'max_input_bytes', 0, 64 * MiB, 0),
    maxOutputBytes: intOption(q, 'max_output_bytes', 0, 64 * MiB, 0),
    maxStderrBytes: intOption(q, 'max_stderr_bytes', 0, 16 * MiB, 0),
    args,
    env,
    createdUnixMs: Date.now(),
    minMemoryPages: shape.minMemoryPages,
  }, defaults);
}

/** The public JSON form of a spec (snake_case, as the deploy options). */
export function specView(spec: FunctionSpec): Record<string, unknown> {
  return {
    name: spec.name,
    digest: spec.digest,
    version: spec.version,
    module_bytes: spec.moduleBytes,
    image: spec.image,
    policy: spec.policy,
    memory_mb: spec.memoryMb,
    timeout_ms: spec.timeoutMs,
    max_concurrency: spec.maxConcurrency,
    max_input_bytes: spec.maxInputBytes,
    max_output_bytes: spec.maxOutputBytes,
    max_stderr_bytes: spec.maxStderrBytes,
    args: spec.args,
    env: spec.env,
    created_at: new Date(spec.createdUnixMs).toISOString(),
    ...filesView(spec),
  };
}
