/**
 * What the benchmarks use of hayate, from the outside: the controller's HTTP API (SPEC §5) and the built
 * example modules. (The cluster itself is `hayate up` run as child processes: services/common/local-cluster.)
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { NatsConnection } from 'nats';
import { Header } from '../services/common/headers';
import { DEFAULT_WATCHDOG, probeDocker } from '../services/common/docker-probe';
import type { LocalCluster } from '../services/common/local-cluster';
import { parseFunctionName } from '../services/common/names';
import { retry } from '../services/common/retry';
import { Subjects } from '../services/common/subjects';
import { asBufferSource } from '../services/common/wasm-module';

/** The repository root (this file runs from dist/bench). */
const ROOT = join(__dirname, '..', '..');

/** The module of a built example (scripts/build-examples.sh): build/examples/<name>/<name>.wasm. */
export function exampleModule(name: string): Buffer {
  return readFileSync(join(ROOT, 'build', 'examples', name, `${name}.wasm`));
}

/** Makes a module with a unique custom section: same program, new digest, so its first call is cold. */
export function uniqueModule(module: Buffer, tag: string): Buffer {
  const name = Buffer.from(`hayate.bench.${tag}`);
  const body = Buffer.concat([Buffer.from([name.length]), name]);
  return Buffer.concat([module, Buffer.from([0, body.length]), body]);
}

/**
 * fetch for the benchmarks' control calls (deploy: PUT, status: GET), both idempotent: a request that got no
 * answer at all (fetch's TypeError, "fetch failed"; e.g. sent on a kept-alive socket as the controller closed
 * it, cause "other side closed") is sent again, 3 tries in all (RFC 9112 §9.3.1). One such failure ended a
 * 14-minute full run. An HTTP answer, whatever its status, is returned as it is.
 * @throws Error naming the request and the last failure's cause
 */
export async function controlFetch(url: URL, init: RequestInit = {}): Promise<Response> {
  const what = `${init.method ?? 'GET'} ${url.pathname}`;
  return retry(() => fetch(url, init), {
    attempts: 3,
    backoff: { initialMs: 100, factor: 3 },
    retryOn: (err) => err instanceof TypeError,
    // said, so that a run shows how often this happens and why
    onRetry: (err, tries) => process.stderr.write(`hayate bench: ${what} got no answer (try ${tries}: ${failure(err)}); sending it again\n`),
    exhausted: (err, tries) => new Error(`${what} got no answer in ${tries} tries: ${failure(err)}`, { cause: err }),
  });
}

/** An error's message with its causes' ("fetch failed: other side closed (UND_ERR_SOCKET)"). */
function failure(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const own = typeof code === 'string' ? `${err.message} (${code})` : err.message;
  return err.cause === undefined ? own : `${own}: ${failure(err.cause)}`;
}

/**
 * PUT /v1/functions/{name} with the module and deploy options as query parameters.
 * @throws Error with the controller's answer when it refuses
 */
export async function deploy(http: string, name: string, module: Uint8Array, options: Record<string, string | string[]> = {}): Promise<void> {
  const url = new URL(`/v1/functions/${encodeURIComponent(name)}`, http);
  for (const [key, value] of Object.entries(options)) for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, v);
  const res = await controlFetch(url, { method: 'PUT', headers: { 'content-type': 'application/wasm' }, body: asBufferSource(module) });
  if (!res.ok) throw new Error(`Cannot deploy ${name}: the controller answered ${res.status} ${(await res.text()).slice(0, 300)}`);
}

/** The state file of `hayate up` (in the cluster's folder), with what the benchmarks read of it. */
export interface UpState {
  http: string;
  nats: string;
  nats_pid?: number;
  controller?: { pid: number };
  invokers: { id: string; pid: number }[];
  hub?: { servers: { name: string; url: string; pid: number }[] };
  sites?: { name: string; nats: string; pid?: number; invokers: { id: string; pid: number }[] }[];
}

/** Reads the state file of a running local cluster. */
export function clusterState(cluster: LocalCluster): UpState {
  return JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as UpState;
}

/** Process ids of a cluster by part (for `cpuMeter`): every invoker, every nats-server, the controller. */
export function clusterPids(state: UpState): { invokers: number[]; nats: number[]; controller: number[] } {
  const known = (pids: (number | undefined)[]) => pids.filter((p): p is number => typeof p === 'number');
  return {
    invokers: [...state.invokers, ...(state.sites?.flatMap((s) => s.invokers) ?? [])].map((i) => i.pid).filter((p, i, all) => all.indexOf(p) === i),
    nats: known([state.nats_pid, ...(state.hub?.servers.map((s) => s.pid) ?? []), ...(state.sites?.map((s) => s.pid) ?? [])]),
    controller: known([state.controller?.pid]),
  };
}

/** Module cache bytes of every invoker, as GET /v1/status shows them (`module_cache_bytes`). */
export async function moduleCacheBytes(http: string): Promise<number[]> {
  const res = await controlFetch(new URL('/v1/status', http));
  if (!res.ok) throw new Error(`Cannot read the cluster status: the controller answered ${res.status}`);
  const body = (await res.json()) as { invokers: { module_cache_bytes: number }[] };
  return body.invokers.map((i) => i.module_cache_bytes);
}

/**
 * A keep-alive HTTP client of POST /v1/functions/{name}/invoke (SPEC §5) for load: node:http with one
 * socket per lane (fetch costs the load generator several times the CPU per call).
 */
export function httpInvoker(http: string, sockets: number): { invoke(fn: string, input: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const base = new URL(http);
  return {
    invoke: (fn, input) =>
      new Promise((resolve, reject) => {
        const req = request({ agent, host: base.hostname, port: base.port, method: 'POST', path: `/v1/functions/${encodeURIComponent(fn)}/invoke`, headers: { 'content-type': 'application/octet-stream', 'content-length': input.byteLength } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(input);
      }),
    close: () => agent.destroy(),
  };
}

/** What a benchmark reads of one answer: success, cold start, tier. */
export interface CallOutcome {
  ok: boolean;
  cold: boolean;
  tier: string;
}

const subjects = new Subjects();

/** One call over `hayate.v1.call.<fn>` (SPEC §4: raw stdin in, raw stdout out, status in headers). */
export async function rawCall(nc: NatsConnection, fn: string, input: Uint8Array, timeoutMs = 60_000): Promise<CallOutcome> {
  const msg = await nc.request(subjects.fn('call', parseFunctionName(fn)), input, { timeout: timeoutMs });
  const h = msg.headers;
  return { ok: h?.get(Header.status) === 'OK', cold: h?.get(Header.coldStart) === 'true', tier: h?.get(Header.tier) ?? '' };
}

/** One call over POST /v1/functions/{name}/invoke through `httpInvoker` (SPEC §5). */
export async function httpCall(client: ReturnType<typeof httpInvoker>, fn: string, input: Buffer): Promise<CallOutcome> {
  const r = await client.invoke(fn, input);
  const header = (name: string) => String(r.headers[name.toLowerCase()] ?? '');
  return { ok: r.status === 200, cold: header(Header.coldStart) === 'true', tier: header(Header.tier) };
}

/** One function's tier state on one invoker, as GET /v1/status shows it. */
export interface FunctionTierStatus {
  name: string;
  state: string;
  container: { invocations: number };
}

/** The tier state of `name` on the first invoker that knows it (GET /v1/status), or undefined. */
export async function functionStatus(http: string, name: string): Promise<FunctionTierStatus | undefined> {
  const res = await controlFetch(new URL('/v1/status', http));
  if (!res.ok) throw new Error(`Cannot read the cluster status: the controller answered ${res.status}`);
  const body = (await res.json()) as { invokers: { functions: FunctionTierStatus[] }[] };
  return body.invokers.flatMap((i) => i.functions).find((f) => f.name === name);
}

/** A Docker client when the container tier can run here (an engine answers, the watchdog is built), else why not. */
export function dockerForBench(): Promise<{ docker: Docker } | { reason: string }> {
  return probeDocker('/var/run/docker.sock', DEFAULT_WATCHDOG);
}

/** CPU time of a container so far: its cgroup's (v1 cpuacct, as on these machines; else v2 cpu.stat). */
export function containerCpuNs(id: string): number {
  try {
    return Number(readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, 'utf8'));
  } catch {
    try {
      const usec = /usage_usec (\d+)/.exec(readFileSync(`/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`, 'utf8'))?.[1];
      return Number(usec ?? 0) * 1000;
    } catch {
      return 0;
    }
  }
}
