/**
 * The example functions: projects as `hayate new` makes them (examples/functions/<name>/hayate.json), built
 * by scripts/build-examples.sh (`hayate build` of each), deployed by `hayate up --examples` with the spec of
 * their hayate.json.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger';
import { HttpClient } from './http-client';
import { deployOptions, readProject } from './project';

const ROOT = join(__dirname, '..', '..', '..');
/** The build script of the examples (and the container watchdog). */
export const EXAMPLES_SCRIPT = join(ROOT, 'scripts', 'build-examples.sh');
/** Where built examples land: build/examples/<name>/<name>.wasm. */
export const EXAMPLES_BUILD = join(ROOT, 'build', 'examples');
const EXAMPLES_SRC = join(ROOT, 'examples', 'functions');

/** Deploy options of one example, from its hayate.json. */
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

/** The deploy options of an example, from its hayate.json (its image named whether or not it was built). */
export function exampleOptions(name: string): ExampleOptions {
  const project = readProject(join(EXAMPLES_SRC, name));
  return deployOptions(project, project.image ?? null);
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
