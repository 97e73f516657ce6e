/**
 * A function project: the folder `hayate new` writes and `hayate build` / `hayate deploy` read. Its
 * `hayate.json` names the function, its language and main source, its limits, policy, image and files:
 *
 * ```json
 * { "name": "hello", "lang": "c", "main": "main.c", "policy": "auto",
 *   "limits": { "memory_mb": 128, "timeout_ms": 10000 }, "image": "hayate-fn/hello:latest",
 *   "env": [], "args": [], "files": null }
 * ```
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HayateError } from '../common/errors';
import { parseFunctionName } from '../common/names';

/** The languages a project can be written in (`hayate new --lang`). */
export const LANGUAGES = ['c', 'cpp', 'rust', 'assemblyscript', 'lua'] as const;
export type Language = (typeof LANGUAGES)[number];

/** The project file's name. */
export const PROJECT_FILE = 'hayate.json';

/** Image names `hayate build` gives functions, and the label the deploy allowlist accepts. */
export const IMAGE_PREFIX = 'hayate-fn/';
export const FUNCTION_LABEL = 'io.hayate.function';

/** What `hayate.json` holds, validated. */
export interface Project {
  /** Folder of the project (absolute). */
  dir: string;
  name: string;
  lang: Language;
  /** Main source file, relative to `dir`. */
  main: string;
  policy: 'auto' | 'wasm' | 'container';
  limits: { memory_mb?: number; timeout_ms?: number; max_concurrency?: number };
  /** Image of the native twin; absent when the language has none. */
  image?: string;
  env: string[];
  args: string[];
  /** Folder of read-only files shipped with the function (a bundle), relative to `dir`; null = none. */
  files: string | null;
}

function invalid(file: string, why: string): HayateError {
  return new HayateError('HAYATE_ERR_INVALID_OPTION', `Cannot read project ${file}: ${why}`);
}

function strings(value: unknown, file: string, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(file, `"${key}" must be a list of strings`);
  return value as string[];
}

/**
 * Reads and validates `hayate.json` in `dir`.
 * @throws HayateError HAYATE_ERR_INVALID_OPTION when the file is missing or a field is wrong
 */
export function readProject(dir: string): Project {
  const root = resolve(dir);
  const file = join(root, PROJECT_FILE);
  if (!existsSync(file)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Cannot find ${PROJECT_FILE} in ${root}: run hayate new <name> first, or name a module (hayate deploy <name> <file.wasm>)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err: unknown) {
    throw invalid(file, err instanceof Error ? err.message : String(err));
  }
  const name = parseFunctionName(String(raw['name']));
  const lang = raw['lang'];
  if (!LANGUAGES.includes(lang as Language)) throw invalid(file, `"lang" ${JSON.stringify(lang)} is not one of ${LANGUAGES.join(', ')}`);
  const policy = raw['policy'] ?? 'auto';
  if (policy !== 'auto' && policy !== 'wasm' && policy !== 'container') throw invalid(file, `"policy" ${JSON.stringify(policy)} is not auto, wasm or container`);
  const limits = (raw['limits'] ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(limits)) {
    if (!['memory_mb', 'timeout_ms', 'max_concurrency'].includes(k) || !Number.isInteger(v)) throw invalid(file, `"limits.${k}" is not a known integer limit`);
  }
  const main = typeof raw['main'] === 'string' ? raw['main'] : DEFAULT_MAIN[lang as Language];
  if (!existsSync(join(root, main))) throw invalid(file, `its main source ${main} does not exist`);
  const files = raw['files'] === undefined || raw['files'] === null ? null : String(raw['files']);
  const project: Project = { dir: root, name, lang: lang as Language, main, policy, limits: limits as Project['limits'], env: strings(raw['env'], file, 'env'), args: strings(raw['args'], file, 'args'), files };
  if (typeof raw['image'] === 'string') project.image = raw['image'];
  return project;
}

/** The main source file `hayate new` writes for each language. */
export const DEFAULT_MAIN: Readonly<Record<Language, string>> = { c: 'main.c', cpp: 'main.cpp', rust: 'main.rs', assemblyscript: 'index.ts', lua: 'main.lua' };

/**
 * The deploy options of a project, as `HttpClient.deploy` takes them (SPEC §5 query names). A Lua project's
 * module is the interpreter: its script travels as the spec's first args (`lua -e <script>`).
 * @param image the native twin's image when one was built
 */
export function deployOptions(project: Project, image: string | null): Record<string, string | string[]> {
  const options: Record<string, string | string[]> = { policy: project.policy };
  for (const [k, v] of Object.entries(project.limits)) options[k] = String(v);
  if (image !== null) options['image'] = image;
  if (project.env.length > 0) options['env'] = project.env;
  // the leading space: lua.c takes an -e argument that starts with '-' (a script's first comment) for an option
  const args = project.lang === 'lua' ? ['-e', ` ${readFileSync(join(project.dir, project.main), 'utf8')}`, ...project.args] : project.args;
  if (args.length > 0) options['arg'] = args;
  return options;
}
