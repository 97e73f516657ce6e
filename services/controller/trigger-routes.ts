/**
 * Trigger routes (SPEC §5): `PUT/GET/DELETE /v1/triggers/{name}`, `GET /v1/triggers`, per-trigger gauges on
 * `/metrics`, and this controller's share of the schedule ticks (see scheduler.ts). A fastify plugin: it
 * opens what it needs when the server starts and stops the scheduler when it closes.
 */
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from 'nats';
import type { Registry } from 'prom-client';
import type { Config } from '../common/config';
import { HayateError } from '../common/errors';
import type { Logger } from '../common/logger';
import { parseFunctionName } from '../common/names';
import { withNatsRetry } from '../common/nats-retry';
import type { FunctionStore } from '../common/store';
import type { TriggerBody } from '../common/trigger-spec';
import { buildTrigger } from '../common/trigger-spec';
import { TriggerStats } from '../common/trigger-stats';
import { TriggerStore, triggerOptions } from '../common/trigger-store';
import { Scheduler } from './scheduler';
import { registerTriggerGauges, triggerStatusView } from './trigger-status';

export interface TriggerRoutesDeps {
  nc: NatsConnection;
  store: FunctionStore;
  config: Readonly<Config>;
  log: Logger;
  /** The controller's Prometheus registry. */
  registry: Registry;
}

type NameParams = { Params: { name: string } };

/** The JSON body of a PUT. @throws HayateError HAYATE_ERR_BAD_REQUEST when it is not a JSON object */
function bodyOf(raw: unknown): TriggerBody {
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : '';
  try {
    const body = JSON.parse(text === '' ? '{}' : text) as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as TriggerBody;
  } catch {
    // answered below
  }
  throw new HayateError('HAYATE_ERR_BAD_REQUEST', 'Cannot read trigger: the body must be a JSON object such as {"function": "f", "subject": "sensors.*.temp"}');
}

/** The plugin; register it with `app.register(triggerRoutes(deps))`. */
export function triggerRoutes(deps: TriggerRoutesDeps) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { nc, store: functions, config } = deps;
    const triggers = await TriggerStore.open(nc, triggerOptions(config));
    const stats = await TriggerStats.open(nc, '', { replicas: config.replicas, domain: config.jsDomain });
    const status = { triggers, functions, stats };
    registerTriggerGauges(deps.registry, status, deps.log);
    const scheduler = new Scheduler(triggers, functions, deps.log);
    await scheduler.start();
    app.addHook('onClose', async () => scheduler.stop());

    app.put<NameParams>('/v1/triggers/:name', async (req, reply) => {
      const name = parseFunctionName(req.params.name);
      const previous = await triggers.get(name);
      const trigger = buildTrigger(name, bodyOf(req.body), config.subjectPrefix, previous);
      if ((await withNatsRetry(`read function ${trigger.function}`, () => functions.getSpec(trigger.function))) === null) {
        throw new HayateError('HAYATE_ERR_NOT_FOUND', `Cannot make trigger ${name} as function ${trigger.function} is not deployed`);
      }
      await triggers.put(trigger);
      req.log.info({ trigger: name, fn: trigger.function, kind: trigger.source.kind, updated: previous !== null }, 'trigger stored');
      return reply.code(previous === null ? 201 : 200).send(await triggerStatusView(status, trigger));
    });

    app.get('/v1/triggers', async () => ({ triggers: await Promise.all((await triggers.list()).map((t) => triggerStatusView(status, t))) }));

    app.get<NameParams>('/v1/triggers/:name', async (req) => {
      const name = parseFunctionName(req.params.name);
      const trigger = await triggers.get(name);
      if (trigger === null) throw new HayateError('HAYATE_ERR_TRIGGER_NOT_FOUND', `Trigger ${name} does not exist`);
      return triggerStatusView(status, trigger);
    });

    app.delete<NameParams>('/v1/triggers/:name', async (req, reply) => {
      const name = parseFunctionName(req.params.name);
      if (!(await triggers.remove(name))) throw new HayateError('HAYATE_ERR_TRIGGER_NOT_FOUND', `Cannot remove trigger ${name} as it does not exist`);
      await stats.forget(name).catch(() => undefined);
      req.log.info({ trigger: name }, 'trigger removed');
      return reply.code(204).send();
    });
  };
}
