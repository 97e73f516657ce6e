/**
 * A small client of the controller's HTTP API (SPEC §5), used by the CLI's client verbs and by tests.
 * Error bodies are rebuilt into `HayateError` by code.
 */
import { HayateError } from '../common/errors';
import { Header } from '../common/headers';
import { asBufferSource } from '../common/wasm-module';

/** An invoke's answer as HTTP carries it. */
export interface HttpInvokeResult {
  status: number;
  body: Buffer;
  headers: Headers;
  /** Parsed error body when status is not 2xx. */
  error?: { code: string; message: string; exit_code?: number; stderr?: string };
}

export class HttpClient {
  /**
   * @param baseUrl controller URL, e.g. http://127.0.0.1:8080
   * @param apiKey sent as `Authorization: Bearer` when not empty
   */
  constructor(
    readonly baseUrl: string,
    readonly apiKey = '',
  ) {}

  protected url(path: string, query: Record<string, string | number | string[]> = {}): string {
    const u = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) {
      for (const item of Array.isArray(v) ? v : [v]) u.searchParams.append(k, String(item));
    }
    return u.toString();
  }

  protected headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.apiKey !== '' ? { authorization: `Bearer ${this.apiKey}`, ...extra } : extra;
  }

  protected async json(res: Response): Promise<Record<string, unknown>> {
    const text = await res.text();
    let body: unknown = {};
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new HayateError('HAYATE_ERR_INTERNAL', `Controller answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
      throw HayateError.fromWire(e?.code, e?.message ?? `HTTP ${res.status}`);
    }
    return body as Record<string, unknown>;
  }

  protected async request(method: string, path: string, init: { query?: Record<string, string | number | string[]>; body?: Uint8Array; contentType?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    try {
      return await fetch(this.url(path, init.query), {
        method,
        headers: this.headers({ ...(init.contentType !== undefined ? { 'content-type': init.contentType } : {}), ...init.headers }),
        body: init.body === undefined ? undefined : asBufferSource(init.body),
      });
    } catch (err: unknown) {
      throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot reach the controller at ${this.baseUrl}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`);
    }
  }

  /** PUT /v1/functions/{name} */
  async deploy(name: string, module: Uint8Array, options: Record<string, string | number | string[]> = {}): Promise<Record<string, unknown>> {
    return this.json(await this.request('PUT', `/v1/functions/${encodeURIComponent(name)}`, { query: options, body: module, contentType: 'application/wasm' }));
  }

  /** PUT /v1/bundles: a function's files as a tar; answers the digest to deploy with (`files`). */
  async putBundle(tar: Uint8Array): Promise<{ digest: string; bytes: number }> {
    return (await this.json(await this.request('PUT', '/v1/bundles', { body: tar, contentType: 'application/x-tar' }))) as { digest: string; bytes: number };
  }

  /** GET /v1/functions */
  async list(): Promise<Record<string, unknown>[]> {
    return (await this.json(await this.request('GET', '/v1/functions')))['functions'] as Record<string, unknown>[];
  }

  /** GET /v1/functions/{name} */
  async get(name: string): Promise<Record<string, unknown>> {
    return this.json(await this.request('GET', `/v1/functions/${encodeURIComponent(name)}`));
  }

  /** DELETE /v1/functions/{name} */
  async remove(name: string): Promise<void> {
    const res = await this.request('DELETE', `/v1/functions/${encodeURIComponent(name)}`);
    if (res.status !== 204) await this.json(res);
  }

  /** GET /v1/status */
  async status(): Promise<Record<string, unknown>> {
    return this.json(await this.request('GET', '/v1/status'));
  }

  /** GET /v1/activations/{id} */
  async activation(id: string): Promise<Record<string, unknown>> {
    return this.json(await this.request('GET', `/v1/activations/${encodeURIComponent(id)}`));
  }

  /**
   * POST /v1/functions/{name}/invoke; never throws for function failures (see `error`).
   * @param options.timeoutMs a timeout below the function's own (`timeout_ms`); the controller waits for the spec timeout otherwise
   */
  async invoke(name: string, input: Uint8Array, options: { args?: string[]; async?: boolean; timeoutMs?: number } = {}): Promise<HttpInvokeResult> {
    const query: Record<string, string | string[]> = {};
    if (options.timeoutMs !== undefined) query['timeout_ms'] = String(options.timeoutMs);
    if (options.args !== undefined && options.args.length > 0) query['arg'] = options.args;
    if (options.async === true) query['async'] = '1';
    const res = await this.request('POST', `/v1/functions/${encodeURIComponent(name)}/invoke`, { query, body: input, contentType: 'application/octet-stream' });
    const body = Buffer.from(await res.arrayBuffer());
    const result: HttpInvokeResult = { status: res.status, body, headers: res.headers };
    if (!res.ok) {
      try {
        result.error = (JSON.parse(body.toString('utf8')) as { error: HttpInvokeResult['error'] } & Record<string, unknown>).error;
        const extra = JSON.parse(body.toString('utf8')) as { exit_code?: number; stderr?: string };
        if (result.error !== undefined) Object.assign(result.error, { exit_code: extra.exit_code, stderr: extra.stderr });
      } catch {
        result.error = { code: 'HAYATE_ERR_INTERNAL', message: body.toString('utf8').slice(0, 500) };
      }
    }
    return result;
  }
}

/** The exit code an invoke header carries, or null. */
export function exitCodeOf(headers: Headers): number | null {
  const v = headers.get(Header.exitCode);
  return v === null ? null : Number(v);
}
