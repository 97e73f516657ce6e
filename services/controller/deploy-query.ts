/**
 * The query options of a deploy (`PUT /v1/functions/{name}`), as fastify parses them: repeatable options may
 * come as arrays; the others are read with `singleOption`.
 */
import { HayateError } from '../common/errors';

/** Query options of `PUT /v1/functions/{name}`; repeatable ones may come as arrays. */
export type DeployQuery = Record<string, string | string[] | undefined>;

/**
 * The value of an option given at most once, or undefined.
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when it is given more than once
 */
export function singleOption(q: DeployQuery, key: string): string | undefined {
  const v = q[key];
  if (Array.isArray(v)) {
    if (v.length > 1) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid option ${key}: given ${v.length} times, expected once`);
    return v[0];
  }
  return v;
}
