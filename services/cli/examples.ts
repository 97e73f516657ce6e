/**
 * The example functions: built by scripts/build-examples.sh, deployed by `hayate up --examples` with the
 * options in examples/functions/<name>/function.json (when present).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger';
import { HttpClient } from './http-client';

const ROOT = join(__dirname, '..', '..', '..');
/** The build script of the examples (and the container watchdog). */
export const EXAMPLES_SCRIPT = join(ROOT, 'scripts', 'build-examples.sh');
/** Where built examples land: build/examples/<name>/<name>.wasm. */
export const EXAMPLES_BUILD = join(ROOT, 'build', 'examples');
const EXAMPLES_SRC = join(ROOT, 'examples', 'functions');

/** Deploy options of one example, from its function.json. */
export type ExampleOptions = Record<string, string | number | string[]>;

/** Names of the built examples. */
export function builtExamples(): string[] {
  if (!existsSync(EXAMPLES_BUILD)) return [];
  return readdirSync(EXAMPLES_BUILD)
    .filter((name) => existsSync(join(EXAMPLES_BUILD, name, `${name}.wasm`)))
    .sort();
}

/** The module of a built example. */
export function exampleModule(name: string): Buffer {
  return readFileSync(join(EXAMPLES_BUILD, name, `${name}.wasm`));
}

/** The deploy options of an example (empty when it has no function.json). */
export function exampleOptions(name: string): ExampleOptions {
  const file = join(EXAMPLES_SRC, name, 'function.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ExampleOptions) : {};
}

/** Deploys every built example through the controller at `http`; returns their names. */
export async function deployExamples(http: string, log: Logger, apiKey = ''): Promise<string[]> {
  const client = new HttpClient(http, apiKey);
  const names = builtExamples();
  for (const name of names) {
    const spec = await client.deploy(name, exampleModule(name), exampleOptions(name));
    log.debug({ fn: name, digest: spec['digest'] }, 'example deployed');
  }
  return names;
}
