/**
 * Which Docker images a function may name (issue 11, finding 8: any function could name any local image,
 * another tenant's included). The operator allows prefixes of the image reference (`HAYATE_IMAGE_PREFIXES`);
 * the controller checks at deploy and the invoker again before it starts a container, so a spec written
 * to the KV by other means cannot start an image the invoker's operator did not allow.
 */
import { HayateError } from './errors';

/** The prefix that allows every image. */
export const ANY_IMAGE = '*';

/**
 * Checks `image` against the allowed prefixes.
 * @param action what is refused, for the message ("deploy function", "run f in a container")
 * @throws HayateError HAYATE_ERR_IMAGE_NOT_ALLOWED when no prefix matches
 */
export function checkImage(image: string, prefixes: readonly string[], action: string): void {
  if (prefixes.some((p) => p === ANY_IMAGE || image.startsWith(p))) return;
  const allowed = prefixes.length === 0 ? 'none is allowed' : `allowed prefixes: ${prefixes.join(', ')}`;
  throw new HayateError('HAYATE_ERR_IMAGE_NOT_ALLOWED', `Cannot ${action} as image ${JSON.stringify(image)} is not allowed (${allowed}; HAYATE_IMAGE_PREFIXES)`);
}
