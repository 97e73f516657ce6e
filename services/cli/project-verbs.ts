/**
 * The verbs of function projects: `hayate new`, `hayate build`, and `hayate deploy` without a module file
 * (deploys what `build` produced, with the spec of hayate.json, image included).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, readBuildRecord } from './build';
import type { HttpClient } from './http-client';
import { newProject } from './new';
import { packDir } from './pack-dir';
import { deployOptions, PROJECT_FILE, readProject } from './project';

/** `hayate new <name> [--lang L]`: returns the text to print. */
export function newVerb(name: string, lang: string): string {
  const dir = newProject(name, lang);
  const shown = relative(process.cwd(), dir) || '.';
  return [`created ${name} (${lang}) in ${shown}/`, 'next:', `  cd ${shown}`, '  hayate build', `  hayate deploy && echo hi | hayate invoke ${name}`].join('\n');
}

/** `hayate build [DIR] [--out OUT] [--no-image]`: builds and returns the record (printed by the caller). */
export function buildVerb(dir: string, options: { out?: string; image: boolean }) {
  return build(dir, options.out === undefined ? { image: options.image } : { out: options.out, image: options.image });
}

/** True when `dir` holds a function project. */
export function isProject(dir: string): boolean {
  return existsSync(join(dir, PROJECT_FILE));
}

/** Uploads folder `dir` as a bundle (`PUT /v1/bundles`); the deploy option naming it. */
export async function uploadFiles(client: HttpClient, dir: string): Promise<{ files: string }> {
  return { files: (await client.putBundle(await packDir(dir))).digest };
}

/**
 * `hayate deploy [name]` in a project folder: the built module, the spec of hayate.json, the image when
 * `build` made one, the project's `files` folder uploaded as its bundle. `name` overrides the project's
 * name; `extra` options (those of `--files`, which replace the project's folder) are added.
 */
export async function deployProject(client: HttpClient, dir: string, name?: string, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const project = readProject(dir);
  const record = readBuildRecord(project);
  const files = extra['files'] === undefined && project.files !== null ? await uploadFiles(client, join(project.dir, project.files)) : {};
  return client.deploy(name ?? project.name, readFileSync(record.wasm), { ...deployOptions(project, record.image), ...files, ...extra });
}
