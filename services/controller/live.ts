/**
 * `GET /v1/live`: the operator page's live feed as Server-Sent Events (see live-feed.ts for the events).
 * Under `/v1`, so it needs the API key like every data route. The page reads it with `fetch` rather than
 * `EventSource`, which cannot send an Authorization header.
 */
import type { ControllerApp } from './fastify-app';
import type { NatsConnection } from 'nats';
import type { ActivationStore } from '../common/activations';
import type { Config } from '../common/config';
import type { Logger } from '../common/logger';
import { Subjects } from '../common/subjects';
import type { LiveFeedOptions } from './live-feed';
import { LiveFeed } from './live-feed';

/** A listener whose socket holds more unsent bytes than this is cut off (its page reconnects). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Registers `GET /v1/live`; one feed per controller, shared by every page.
 * @param options feed settings (tests shorten them) @default LiveFeed's
 */
export function registerLive(app: ControllerApp, deps: { nc: NatsConnection; config: Readonly<Config>; log: Logger; activations: ActivationStore }, options: LiveFeedOptions = {}): LiveFeed {
  const feed = new LiveFeed(deps.nc, new Subjects(deps.config.subjectPrefix), deps.activations, deps.log.child({ component: 'live' }), options);
  const streams = new Set<() => void>();
  // an event stream never ends by itself: end them all when the server closes, or close() waits for ever
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
    await feed.close();
  });
  app.get('/v1/live', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    let unlisten = () => {};
    const end = () => {
      streams.delete(end);
      unlisten();
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    unlisten = feed.listen((frame) => {
      if (res.writableEnded || res.destroyed) return false;
      res.write(frame);
      if (res.writableLength <= MAX_BUFFERED_BYTES) return true;
      req.log.warn({ buffered: res.writableLength }, 'live page too slow: stream ended');
      setImmediate(end);
      return false;
    });
    req.raw.once('close', end);
  });
  return feed;
}
