/**
 * `hayate build [DIR]`: builds a function project (project.ts) with its language's toolchain
 * (toolchains.ts): the WASI module, the static native twin where the language has one, and its
 * `FROM scratch` image, named `hayate-fn/<name>` (or the project's `image`) with the label
 * `io.hayate.function=<name>` that the deploy allowlist accepts.
 *
 * Outputs in OUT (default DIR/build): `<name>.wasm`, `<name>`, `Dockerfile`, and `build.json`, the record
 * `hayate deploy` reads (what was built, with which commands, and the image when one was built).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { HayateError } from '../common/errors';
import type { Project } from './project';
import { FUNCTION_LABEL, IMAGE_PREFIX, readProject } from './project';
import type { BuildPaths, Step } from './toolchains';
import { installLine, TOOLCHAINS } from './toolchains';

/** What `hayate build` leaves in OUT/build.json. */
export interface BuildRecord {
  name: string;
  lang: string;
  wasm: string;
  native: string | null;
  image: string | null;
  /** The commands that made the outputs: a change rebuilds. */
  commands: string;
}

export interface BuildOptions {
  /** Output folder. @default DIR/build */
  out?: string;
  /** Build the native twin's image when Docker answers. @default true */
  image?: boolean;
  /** Where progress lines go. @default stderr */
  say?: (line: string) => void;
}

/** The record of the last build of a project. @throws HayateError HAYATE_ERR_INVALID_OPTION when it was never built */
export function readBuildRecord(project: Project, out = join(project.dir, 'build')): BuildRecord {
  const file = join(out, 'build.json');
  if (!existsSync(file)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Cannot deploy ${project.name} as it is not built: run hayate build in ${project.dir}`);
  return JSON.parse(readFileSync(file, 'utf8')) as BuildRecord;
}

function newestSource(dir: string, skip: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith('.') || entry.name === 'node_modules' || resolve(path) === skip) continue;
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path, skip) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs a step (its stderr held back while it has a fallback, shown only if that fails too). */
function run(step: Step, cwd: string, what: string, say: (line: string) => void): void {
  const r = spawnSync(step.command, step.args, { cwd, stdio: ['ignore', 'inherit', step.orElse === undefined ? 'inherit' : 'pipe'] });
  if (r.error === undefined && r.status === 0) return;
  if (step.orElse !== undefined) {
    try {
      run(step.orElse.step, cwd, what, say);
      say(`${what}: ${step.orElse.why}`);
      return;
    } catch (err: unknown) {
      process.stderr.write(r.stderr ?? '');
      throw err;
    }
  }
  if (r.error !== undefined) throw new HayateError('HAYATE_ERR_BUILD_FAILED', `Cannot build ${what} as ${step.command} could not run: ${r.error.message}`);
  throw new HayateError('HAYATE_ERR_BUILD_FAILED', `Cannot build ${what}: ${step.command} exited with ${r.status ?? r.signal} (its messages are above)`);
}

/** A step with the argument `from` replaced by `to`, in its fallback too. */
function retarget(step: Step, from: string, to: string): Step {
  const args = step.args.map((a) => (a === from ? to : a));
  return step.orElse === undefined ? { command: step.command, args } : { command: step.command, args, orElse: { step: retarget(step.orElse.step, from, to), why: step.orElse.why } };
}

/** Runs steps into temporary outputs, then renames: an interrupted build never leaves a file that looks built. */
function produce(steps: Step[], target: string, cwd: string, what: string, say: (line: string) => void): void {
  // the extension stays last: compilers choose the output format by it
  const tmp = target.replace(/(\.wasm)?$/, `.tmp${process.pid}$1`);
  try {
    for (const step of steps) run(retarget(step, target, tmp), cwd, what, say);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function docker(args: string[], env?: NodeJS.ProcessEnv): { ok: boolean; out: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', env });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Builds the image of the native twin; returns its name, or null (with the reason said) when Docker is absent. */
function buildImage(project: Project, out: string, say: (line: string) => void): string | null {
  if (!docker(['info', '--format', '{{.ServerVersion}}']).ok) {
    say('no Docker engine: image not built (the function runs in WASM only)');
    return null;
  }
  const image = project.image ?? `${IMAGE_PREFIX}${project.name}:latest`;
  const digest = createHash('sha256').update(readFileSync(join(out, project.name))).update(readFileSync(join(out, 'Dockerfile'))).digest('hex');
  if (docker(['image', 'inspect', '-f', '{{index .Config.Labels "hayate.content-sha256"}}', image]).out === digest) return image;
  // the classic builder when the buildx plugin is absent (FROM scratch + COPY needs nothing more)
  const env = docker(['buildx', 'version']).ok ? process.env : { ...process.env, DOCKER_BUILDKIT: '0' };
  const r = docker(['build', '-q', '--label', `${FUNCTION_LABEL}=${project.name}`, '--label', `hayate.content-sha256=${digest}`, '-t', image, out], env);
  if (!r.ok) throw new HayateError('HAYATE_ERR_BUILD_FAILED', `Cannot build image ${image}: ${r.out}`);
  say(`built image ${image}`);
  return image;
}

/**
 * Builds the project in `dir`. Skips what is up to date (outputs newer than every source, same commands).
 * @throws HayateError HAYATE_ERR_BUILD_FAILED when a tool is missing (the message has the install line) or a
 *   compiler fails; HAYATE_ERR_INVALID_OPTION when hayate.json is wrong
 */
export function build(dir: string, options: BuildOptions = {}): BuildRecord {
  const project = readProject(dir);
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const toolchain = TOOLCHAINS[project.lang];
  const missing = toolchain.missing();
  if (missing.length > 0) {
    throw new HayateError('HAYATE_ERR_BUILD_FAILED', `Cannot build ${project.name} (${project.lang}) as ${missing.map((m) => m.what).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: install with ${installLine(missing)}`);
  }
  const out = resolve(options.out ?? join(project.dir, 'build'));
  mkdirSync(out, { recursive: true });
  const paths: BuildPaths = { source: join(project.dir, project.main), wasm: join(out, `${project.name}.wasm`), native: join(out, project.name), dir: project.dir };
  const hasNative = toolchain.native !== null && existsSync(join(project.dir, 'Dockerfile'));
  const wasmSteps = toolchain.wasm(paths);
  const nativeSteps = hasNative && toolchain.native !== null ? toolchain.native(paths) : [];
  const commands = JSON.stringify([...wasmSteps, ...nativeSteps]);
  const recordFile = join(out, 'build.json');
  const previous = existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as BuildRecord) : null;
  const sourcesAt = newestSource(project.dir, out);
  const fresh = (file: string): boolean => previous?.commands === commands && existsSync(file) && statSync(file).mtimeMs > sourcesAt;
  const shown = (file: string): string => relative(process.cwd(), file) || file;

  if (!fresh(paths.wasm)) {
    produce(wasmSteps, paths.wasm, project.dir, `${project.name}.wasm`, say);
    say(`built ${shown(paths.wasm)}`);
  }
  let native: string | null = null;
  let image: string | null = null;
  if (hasNative) {
    if (!fresh(paths.native)) {
      produce(nativeSteps, paths.native, project.dir, `${project.name} (native)`, say);
      say(`built ${shown(paths.native)}`);
    }
    copyFileSync(join(project.dir, 'Dockerfile'), join(out, 'Dockerfile'));
    native = paths.native;
    if (options.image !== false) image = buildImage(project, out, say);
  }
  const record: BuildRecord = { name: project.name, lang: project.lang, wasm: paths.wasm, native, image, commands };
  writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}
