/**
 * The deploy notice (`<prefix>.v1.deployed.<fn>`, SPEC §4): once a deploy is stored, and before the controller
 * answers it, every invoker hears of it, with the module itself when it is small. Each invoker compiles it
 * at once, hands it to its workers and acknowledges; the controller answers the deploy when the invokers
 * have acknowledged (or after at most `NOTICE_WAIT_MS`), so that the first call, sent as soon as the deploy
 * is answered, finds the module compiled instead of reading the object store and compiling on its clock.
 */
import { RequestStrategy } from 'nats';
import type { NatsConnection } from 'nats';
import type { FunctionSpec } from '../common/codec';
import { encodeDeployNotice } from '../common/codec';
import type { Subjects } from '../common/subjects';

/** Modules up to this size travel with their notice; larger ones are read from the object store. */
export const NOTICE_MODULE_MAX_BYTES = 512 * 1024;
/** The longest a deploy waits for invokers to have its module compiled. */
export const NOTICE_WAIT_MS = 500;
/** Acknowledgements end once none came for this long (invokers compile in parallel, a few ms apart). */
const NOTICE_JITTER_MS = 15;

/**
 * Announces a stored deploy. Carrying the module, it waits for the invokers' acknowledgements (bounded);
 * without, it only makes sure the server has the notice. Best effort: the KV watch carries the spec anyway.
 * @returns invokers that acknowledged having the module compiled
 */
export async function announceDeploy(nc: NatsConnection, subjects: Subjects, spec: FunctionSpec, module: Uint8Array): Promise<number> {
  const maxPayload = nc.info?.max_payload ?? 0;
  const carries = module.byteLength <= NOTICE_MODULE_MAX_BYTES && module.byteLength + 4096 <= maxPayload;
  const data = encodeDeployNotice({ spec, module: carries ? module : new Uint8Array(0) });
  try {
    if (!carries) {
      nc.publish(subjects.deployed(spec.name), data);
      await nc.flush();
      return 0;
    }
    let acks = 0;
    const replies = await nc.requestMany(subjects.deployed(spec.name), data, { strategy: RequestStrategy.JitterTimer, maxWait: NOTICE_WAIT_MS, jitter: NOTICE_JITTER_MS });
    // an empty reply: compiled and in the workers; anything else: an invoker that does not compile ahead
    for await (const reply of replies) if (reply.data.byteLength === 0) acks += 1;
    return acks;
  } catch {
    // no invoker listens (no responders), or the connection is closing: they learn of it from the KV watch
    return 0;
  }
}
