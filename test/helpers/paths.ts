import { join } from 'node:path';

/** Repository root (tests run from dist/test). */
export const ROOT = join(__dirname, '..', '..', '..');
export const HAYATE_BIN = join(ROOT, 'bin', 'hayate.js');
export const PROTO_DIR = join(ROOT, 'proto');

/** Path of a built example module. */
export function exampleWasm(name: string): string {
  return join(ROOT, 'build', 'examples', name, `${name}.wasm`);
}
