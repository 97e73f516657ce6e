/**
 * The controller's trigger and log routes as the CLI (and tests) call them: `/v1/triggers` and
 * `/v1/functions/{name}/logs`, with the server-sent events of a followed log read line by line.
 */
import { HayateError } from '../common/errors';
import type { LogEntry } from '../common/log-entries';
import { HttpClient } from './http-client';

export class EventsClient extends HttpClient {
  /** PUT /v1/triggers/{name} with a JSON body (`function`, `subject` | `cron` | `every`, options). */
  async putTrigger(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.json(await this.request('PUT', `/v1/triggers/${encodeURIComponent(name)}`, { body: new TextEncoder().encode(JSON.stringify(body)), contentType: 'application/json' }));
  }

  /** GET /v1/triggers */
  async triggers(): Promise<Record<string, unknown>[]> {
    return (await this.json(await this.request('GET', '/v1/triggers')))['triggers'] as Record<string, unknown>[];
  }

  /** GET /v1/triggers/{name} */
  async trigger(name: string): Promise<Record<string, unknown>> {
    return this.json(await this.request('GET', `/v1/triggers/${encodeURIComponent(name)}`));
  }

  /** DELETE /v1/triggers/{name} */
  async removeTrigger(name: string): Promise<void> {
    const res = await this.request('DELETE', `/v1/triggers/${encodeURIComponent(name)}`);
    if (res.status !== 204) await this.json(res);
  }

  /** GET /v1/functions/{name}/logs */
  async logs(fn: string, options: { since?: string; limit?: number } = {}): Promise<LogEntry[]> {
    const query: Record<string, string> = {};
    if (options.since !== undefined) query['since'] = options.since;
    if (options.limit !== undefined) query['limit'] = String(options.limit);
    return (await this.json(await this.request('GET', `/v1/functions/${encodeURIComponent(fn)}/logs`, { query })))['entries'] as LogEntry[];
  }

  /**
   * Follows a function's logs (SSE): calls `onEntry` for the recent entries, then for each new one, until
   * `signal` aborts or the controller closes the stream.
   * @throws HayateError with the controller's code when it refuses (unknown function name, bad since)
   */
  async followLogs(fn: string, onEntry: (entry: LogEntry) => void, options: { since?: string; signal?: AbortSignal } = {}): Promise<void> {
    const query: Record<string, string> = options.since !== undefined ? { since: options.since } : {};
    let res: Response;
    try {
      res = await fetch(this.url(`/v1/functions/${encodeURIComponent(fn)}/logs`, query), { headers: this.headers({ accept: 'text/event-stream' }), signal: options.signal });
    } catch (err: unknown) {
      if (options.signal?.aborted) return;
      throw new HayateError('HAYATE_ERR_UNAVAILABLE', `Cannot reach the controller at ${this.baseUrl}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!res.ok || res.body === null) {
      await this.json(res);
      return;
    }
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data !== '') onEntry(JSON.parse(data) as LogEntry);
        }
      }
    } catch (err: unknown) {
      if (!options.signal?.aborted) throw err;
    }
  }
}
