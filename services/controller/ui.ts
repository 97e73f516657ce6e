/**
 * The operator page's files (SPEC §5 `GET /`): the page at `/` and `/ui/`, its scripts, styles and uPlot
 * under `/ui/`, all from `dist/ui` (built by `npm run build:ui`), nothing fetched from elsewhere.
 *
 * Auth: these files are the same for everybody and hold no data and no secret, so they are served without
 * a key. A browser cannot send `Authorization: Bearer` when it navigates to `/`, and making it possible
 * (a cookie, basic auth) would add a second way in, with CSRF to defend. Instead every piece of data the
 * page shows comes from `/v1` (`/v1/live`, `/v1/functions`, …), which needs the key like any other client:
 * with `HAYATE_API_KEYS` set, the page asks for a key, keeps it in the tab's session storage and sends it
 * as a Bearer header; without one it shows nothing but the prompt.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { ControllerApp } from './fastify-app';
import { HayateError } from '../common/errors';

/** Where `npm run build:ui` puts the page: dist/ui, next to dist/services. */
export const UI_ROOT = join(__dirname, '..', '..', 'ui');

// Only the controller's own files and connections; no inline script (the page has none), no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The logs API's route (issue 14), when this controller has it: the page's log tail needs it. */
const LOGS_ROUTE = { method: 'GET', url: '/v1/functions/:name/logs' } as const;

/**
 * Serves the operator page at `/` and `/ui/`, and `/ui/config.json`: `{"auth", "logs"}`, whether data
 * requests need a key (so the page asks before its first request instead of collecting a 401) and whether
 * the logs API is there. When the page was not built, `/` and `/ui/` answer 404 HAYATE_ERR_NOT_FOUND saying
 * how to build it.
 * @param options.auth API keys are configured
 * @param options.root folder holding index.html @default UI_ROOT
 */
export function registerUi(app: ControllerApp, options: { auth: boolean; root?: string }): void {
  const root = options.root ?? UI_ROOT;
  void app.register(async (scope) => {
    scope.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CSP);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      return payload;
    });
    if (!existsSync(join(root, 'index.html'))) {
      const missing = async () => {
        throw new HayateError('HAYATE_ERR_NOT_FOUND', `The operator page is not built (no ${join(root, 'index.html')}): run npm run build`);
      };
      scope.get('/', missing);
      scope.get('/ui/*', missing);
      return;
    }
    scope.get('/ui/config.json', async (_req, reply) => reply.header('cache-control', 'no-store').send({ auth: options.auth, logs: app.hasRoute(LOGS_ROUTE) }));
    await scope.register(fastifyStatic, { root, prefix: '/ui/', index: 'index.html' });
    scope.get('/', (_req, reply) => reply.sendFile('index.html'));
    scope.get('/ui', (_req, reply) => reply.redirect('/ui/'));
  });
}
