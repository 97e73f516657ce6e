/**
 * `GET /v1/functions/{name}/logs` (SPEC §5): a function's recent log entries from the logs stream.
 *   - `?since=10m` (default 10m): entries newer than that; `?limit=N` (default 1000): at most the last N.
 *   - JSON `{"function", "entries": [...]}`; with `Accept: text/event-stream` (or `?follow=1`) an SSE
 *     stream: the recent entries, then every new one as it is published, one `data:` event each, until the
 *     client goes away. Entries are the JSON objects invokers publish (see common/log-entries.ts).
 * A fastify plugin; it makes sure the logs stream exists with the configured limits.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DeliverPolicy } from 'nats';
import type { Consumer, JsMsg, NatsConnection } from 'nats';
import type { Config } from '../common/config';
import { parseDuration } from '../common/durations';
import { HayateError } from '../common/errors';
import type { LogEntry } from '../common/log-entries';
import { ensureLogStream, parseLogEntry } from '../common/log-entries';
import { parseFunctionName } from '../common/names';
import { withNatsRetry } from '../common/nats-retry';
import { Subjects } from '../common/subjects';

export interface LogRoutesDeps {
  nc: NatsConnection;
  config: Readonly<Config>;
}

type LogsRequest = FastifyRequest<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>;

const DEFAULT_SINCE = '10m';
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 100_000;
/** SSE comment sent on a quiet stream, so proxies and clients keep the connection. */
const HEARTBEAT_MS = 15_000;

function limitOf(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid limit ${JSON.stringify(raw)}: expected an integer in [1, ${MAX_LIMIT}]`);
  return n;
}

function wantsStream(req: LogsRequest): boolean {
  const follow = req.query['follow'];
  return follow === '1' || follow === 'true' || (req.headers.accept ?? '').includes('text/event-stream');
}

/** The plugin; register it with `app.register(logRoutes(deps))`. */
export function logRoutes(deps: LogRoutesDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { nc, config } = deps;
    const subjects = new Subjects(config.subjectPrefix);
    const js = nc.jetstream(config.jsDomain ? { domain: config.jsDomain } : {});
    const jsm = await nc.jetstreamManager(config.jsDomain ? { domain: config.jsDomain } : {});
    await withNatsRetry('set up the logs stream', () => ensureLogStream(jsm, subjects, { maxBytes: config.logsMaxBytes, maxAgeMs: config.logsMaxAgeMs, replicas: config.replicas }));

    /** An ordered consumer of one function's entries from `sinceMs` on. */
    const open = (fn: string, sinceMs: number): Promise<Consumer> =>
      js.consumers.get(subjects.logsStream(), { filterSubjects: subjects.logs(fn), deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(sinceMs).toISOString() });

    app.get('/v1/functions/:name/logs', async (req: LogsRequest, reply: FastifyReply) => {
      const fn = parseFunctionName(req.params.name);
      const sinceMs = Date.now() - parseDuration(req.query['since'] ?? DEFAULT_SINCE, 'since');
      const limit = limitOf(req.query['limit']);
      const consumer = await open(fn, sinceMs);
      if (wantsStream(req)) return follow(req, reply, consumer);
      const entries: LogEntry[] = [];
      if ((await consumer.info()).num_pending > 0) {
        const messages = await consumer.consume({ max_messages: 512 });
        for await (const m of messages) {
          const e = parseLogEntry(m.data);
          if (e !== null) entries.push(e);
          if (entries.length > limit) entries.shift();
          if (m.info.pending === 0) break;
        }
        await messages.close();
      }
      await consumer.delete().catch(() => false);
      return { function: fn, entries };
    });
  };
}

/** Streams the consumer's entries as server-sent events until the client disconnects. */
async function follow(req: LogsRequest, reply: FastifyReply, consumer: Consumer): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': following\n\n');
  const messages = await consumer.consume({ max_messages: 512 });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stop = () => {
    clearInterval(heartbeat);
    void messages.close();
  };
  req.raw.once('close', stop);
  res.once('close', stop);
  try {
    for await (const m of messages as AsyncIterable<JsMsg>) {
      if (parseLogEntry(m.data) !== null) res.write(`data: ${Buffer.from(m.data).toString('utf8')}\n\n`);
    }
  } finally {
    stop();
    res.end();
    await consumer.delete().catch(() => false);
  }
}
