/**
 * What the benchmarks use of hayate, from the outside: the controller's HTTP API (SPEC §5) and the built
 * example modules. (The cluster itself is `hayate up` run as child processes: services/common/local-cluster.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DEFAULT_WATCHDOG, probeDocker } from '../services/common/docker-probe';
import { asBufferSource } from '../services/common/wasm-module';

/** The repository root (this file runs from dist/bench). */
const ROOT = join(__dirname, '..', '..');

/** The module of a built example (scripts/build-examples.sh): build/examples/<name>/<name>.wasm. */
export function exampleModule(name: string): Buffer {
  return readFileSync(join(ROOT, 'build', 'examples', name, `${name}.wasm`));
}

/**
 * PUT /v1/functions/{name} with the module and deploy options as query parameters.
 * @throws Error with the controller's answer when it refuses
 */
export async function deploy(http: string, name: string, module: Uint8Array, options: Record<string, string | string[]> = {}): Promise<void> {
  const url = new URL(`/v1/functions/${encodeURIComponent(name)}`, http);
  for (const [key, value] of Object.entries(options)) for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/wasm' }, body: asBufferSource(module) });
  if (!res.ok) throw new Error(`Cannot deploy ${name}: the controller answered ${res.status} ${(await res.text()).slice(0, 300)}`);
}

/** One function's tier state on one invoker, as GET /v1/status shows it. */
export interface FunctionTierStatus {
  name: string;
  state: string;
  container: { invocations: number };
}

/** The tier state of `name` on the first invoker that knows it (GET /v1/status), or undefined. */
export async function functionStatus(http: string, name: string): Promise<FunctionTierStatus | undefined> {
  const res = await fetch(new URL('/v1/status', http));
  if (!res.ok) throw new Error(`Cannot read the cluster status: the controller answered ${res.status}`);
  const body = (await res.json()) as { invokers: { functions: FunctionTierStatus[] }[] };
  return body.invokers.flatMap((i) => i.functions).find((f) => f.name === name);
}

/** A Docker client when the container tier can run here (an engine answers, the watchdog is built), else why not. */
export function dockerForBench(): Promise<{ docker: Docker } | { reason: string }> {
  return probeDocker('/var/run/docker.sock', DEFAULT_WATCHDOG);
}
