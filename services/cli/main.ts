/**
 * `hayate <verb>`: the CLI (SPEC §6). The process entry of every hayate service: `up`, `controller` and
 * `invoker` start services; the other verbs are clients of a controller.
 */
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from '../common/config';
import type { Config } from '../common/config';
import { HayateError, toHayateError } from '../common/errors';
import { chooseLogFormat, createLogger, isLogFormat, LOG_FORMATS, setLogFormat } from '../common/logger';
import { version } from '../common/version';
import { EVENT_VERB_OPTIONS, logsVerb, triggerVerb } from './event-verbs';
import { EventsClient } from './events-client';
import { exitCodeOf, HttpClient } from './http-client';
import { HELP, verbHelp } from './help';
import { formatFunctions, formatStatus, verboseInvoke } from './listings';
import { buildVerb, deployProject, isProject, newVerb, uploadFiles } from './project-verbs';

type Options = NonNullable<ParseArgsConfig['options']>;

const CLIENT_OPTIONS: Options = {
  url: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

const VERB_OPTIONS: Record<string, Options> = {
  up: {
    data: { type: 'string', default: '.hayate' },
    invokers: { type: 'string', default: '2' },
    'http-port': { type: 'string', default: '8080' },
    'nats-port': { type: 'string', default: '4222' },
    'state-file': { type: 'string' },
    examples: { type: 'boolean', default: false },
    workers: { type: 'string' },
    sites: { type: 'string', default: '0' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  controller: {
    nats: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    insecure: { type: 'boolean', default: false },
    'js-domain': { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  invoker: {
    nats: { type: 'string' },
    id: { type: 'string' },
    workers: { type: 'string' },
    site: { type: 'string' },
    'js-domain': { type: 'string' },
    'metrics-port': { type: 'string' },
    'log-format': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  deploy: {
    ...CLIENT_OPTIONS,
    image: { type: 'string' },
    'memory-mb': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'max-concurrency': { type: 'string' },
    policy: { type: 'string' },
    env: { type: 'string', multiple: true },
    arg: { type: 'string', multiple: true },
    files: { type: 'string' },
    'files-path': { type: 'string' },
    'files-writable': { type: 'boolean', default: false },
  },
  invoke: { ...CLIENT_OPTIONS, async: { type: 'boolean', default: false }, arg: { type: 'string', multiple: true }, verbose: { type: 'boolean', short: 'v', default: false }, 'timeout-ms': { type: 'string' } },
  new: { lang: { type: 'string', default: 'c' }, help: { type: 'boolean', short: 'h', default: false } },
  build: { out: { type: 'string' }, 'no-image': { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  ls: CLIENT_OPTIONS,
  get: CLIENT_OPTIONS,
  rm: CLIENT_OPTIONS,
  status: CLIENT_OPTIONS,
  activation: CLIENT_OPTIONS,
  trigger: { ...CLIENT_OPTIONS, ...EVENT_VERB_OPTIONS.trigger },
  logs: { ...CLIENT_OPTIONS, ...EVENT_VERB_OPTIONS.logs },
  bench: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    report: { type: 'string' },
    invokers: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
};

/** Thrown by verbs to exit with a given code after printing nothing more. */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function intFlag(value: unknown, flag: string, min = 0, max = 65535): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid --${flag} ${JSON.stringify(value)}: expected an integer in [${min}, ${max}]`);
  return n;
}

function print(data: unknown, json: boolean, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function need(positionals: string[], count: number, verb: string): string[] {
  if (positionals.length < count) throw new HayateError('HAYATE_ERR_BAD_REQUEST', `hayate ${verb}: missing argument (see hayate ${verb} --help)`);
  return positionals;
}

/** `--files DIR [--files-path P] [--files-writable]`: uploads DIR as a bundle; the deploy options naming it and how. */
async function filesOptions(client: HttpClient, values: Record<string, unknown>): Promise<Record<string, string>> {
  const options: Record<string, string> = typeof values['files'] === 'string' ? await uploadFiles(client, values['files']) : {};
  if (typeof values['files-path'] === 'string') options['files_path'] = values['files-path'];
  if (values['files-writable'] === true) options['files_writable'] = 'true';
  return options;
}

async function clientVerb(verb: string, values: Record<string, unknown>, positionals: string[], config: Readonly<Config>): Promise<void> {
  const json = values['json'] === true;
  const client = new HttpClient(typeof values['url'] === 'string' ? values['url'] : config.controllerUrl, config.apiKey);
  switch (verb) {
    case 'deploy': {
      if (positionals.length < 2 && isProject('.')) {
        const spec = await deployProject(client, '.', positionals[0], await filesOptions(client, values));
        print(spec, json, () => `deployed ${String(spec['name'])} version ${String(spec['version'])} digest ${String(spec['digest']).slice(0, 12)}${spec['image'] ? ` image ${String(spec['image'])}` : ''}`);
        return;
      }
      const [name, file] = need(positionals, 2, verb);
      const options: Record<string, string | string[]> = {};
      const map: [string, string][] = [['image', 'image'], ['memory-mb', 'memory_mb'], ['timeout-ms', 'timeout_ms'], ['max-concurrency', 'max_concurrency'], ['policy', 'policy']];
      for (const [flag, key] of map) if (typeof values[flag] === 'string') options[key] = values[flag] as string;
      if (Array.isArray(values['env'])) options['env'] = values['env'] as string[];
      if (Array.isArray(values['arg'])) options['arg'] = values['arg'] as string[];
      const spec = await client.deploy(name!, readFileSync(file!), { ...options, ...(await filesOptions(client, values)) });
      print(spec, json, () => `deployed ${String(spec['name'])} version ${String(spec['version'])} digest ${String(spec['digest']).slice(0, 12)}`);
      return;
    }
    case 'invoke': {
      const [name] = need(positionals, 1, verb);
      const timeoutMs = intFlag(values['timeout-ms'], 'timeout-ms', 1, 15 * 60_000);
      const r = await client.invoke(name!, await readStdin(), { args: (values['arg'] as string[] | undefined) ?? [], async: values['async'] === true, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      if (values['verbose'] === true) process.stderr.write(verboseInvoke(r));
      if (r.status === 202) {
        print(JSON.parse(r.body.toString('utf8')), json, () => r.body.toString('utf8'));
        return;
      }
      if (r.error === undefined) {
        process.stdout.write(r.body);
        return;
      }
      if (r.error.stderr) process.stderr.write(r.error.stderr.endsWith('\n') ? r.error.stderr : `${r.error.stderr}\n`);
      process.stderr.write(`hayate: ${r.error.code}: ${r.error.message}\n`);
      const code = exitCodeOf(r.headers);
      throw new Exit(code !== null && code > 0 && code < 256 ? code : 1);
    }
    case 'ls': {
      const fns = await client.list();
      print({ functions: fns }, json, () => formatFunctions(fns));
      return;
    }
    case 'get': {
      const [name] = need(positionals, 1, verb);
      const spec = await client.get(name!);
      print(spec, true, () => '');
      return;
    }
    case 'rm': {
      const [name] = need(positionals, 1, verb);
      await client.remove(name!);
      print({ removed: name }, json, () => `removed ${name}`);
      return;
    }
    case 'status': {
      const s = await client.status();
      print(s, json, () => formatStatus(s));
      return;
    }
    case 'activation': {
      const [id] = need(positionals, 1, verb);
      print(await client.activation(id!), true, () => '');
      return;
    }
    case 'trigger':
      return triggerVerb(new EventsClient(client.baseUrl, client.apiKey), values, positionals, json);
    case 'logs':
      return logsVerb(new EventsClient(client.baseUrl, client.apiKey), values, positionals, json);
    default:
      throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Unknown verb ${verb}`);
  }
}

/**
 * Chooses the log format of this process from `--log-format`, else `HAYATE_LOG_FORMAT` (loadConfig), and
 * resolves `auto` here, by this process's stderr: `hayate up` passes the result to its children in their
 * environment, so their lines look like the parent's though their stderr is the same terminal or pipe.
 */
function useLogFormat(flag: unknown, verb: string): 'json' | 'pretty' {
  const format = flag === undefined ? loadConfig(process.env).logFormat : flag;
  if (!isLogFormat(format)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid --log-format ${JSON.stringify(format)}: expected ${LOG_FORMATS.join(', ')}`);
  setLogFormat(format);
  const chosen = chooseLogFormat(format, isatty(2));
  if (verb === 'up') process.env['HAYATE_LOG_FORMAT'] = chosen;
  return chosen;
}

/** Runs the CLI with `argv` (without node and script). Exits the process when done. */
export async function run(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (verb === '--version' || verb === 'version') {
    process.stdout.write(`${version}\n`);
    return;
  }
  const options = VERB_OPTIONS[verb];
  if (options === undefined) {
    process.stderr.write(`hayate: unknown verb ${JSON.stringify(verb)}\n\n${HELP}`);
    process.exit(2);
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    if (values['help'] === true) {
      process.stdout.write(verbHelp(verb));
      return;
    }
    const logFormat = verb === 'up' || verb === 'controller' || verb === 'invoker' ? useLogFormat(values['log-format'], verb) : 'json';
    switch (verb) {
      case 'new': {
        const [name] = need(positionals, 1, verb);
        process.stdout.write(`${newVerb(name!, String(values['lang']))}\n`);
        return;
      }
      case 'build': {
        const record = buildVerb(positionals[0] ?? '.', { out: values['out'] as string | undefined, image: values['no-image'] !== true });
        print(record, values['json'] === true, () => `${record.name}: ${[record.wasm, record.native, record.image].filter((x) => x !== null).join(', ')}`);
        return;
      }
      case 'up': {
        const { up } = await import('./up');
        const config = loadConfig(process.env);
        const log = createLogger({ name: 'up', level: config.logLevel });
        await up(
          {
            data: String(values['data']),
            invokers: intFlag(values['invokers'], 'invokers', 0, 64) ?? 2,
            httpPort: intFlag(values['http-port'], 'http-port') ?? 8080,
            natsPort: intFlag(values['nats-port'], 'nats-port') ?? 4222,
            stateFile: values['state-file'] as string | undefined,
            examples: values['examples'] === true,
            workers: intFlag(values['workers'], 'workers', 1, 256),
            sites: intFlag(values['sites'], 'sites', 0, 26) ?? 0,
            pretty: logFormat === 'pretty',
          },
          log,
        );
        return; // keeps running until a signal
      }
      case 'bench': {
        const { runBench } = await import('../../bench/index');
        await runBench({ quick: values['quick'] === true, jsonFile: values['json'] as string | undefined, reportDir: values['report'] as string | undefined, invokers: intFlag(values['invokers'], 'invokers', 1, 16) ?? 1 }, { stderr: process.stderr });
        process.exit(0);
      }
      case 'controller': {
        const { main } = await import('../controller/main');
        await main({ natsUrl: values['nats'] as string | undefined, httpPort: intFlag(values['port'], 'port'), httpHost: values['host'] as string | undefined, insecure: values['insecure'] === true ? true : undefined, jsDomain: values['js-domain'] as string | undefined });
        return;
      }
      case 'invoker': {
        const { main } = await import('../invoker/main');
        await main({ natsUrl: values['nats'] as string | undefined, invokerId: values['id'] as string | undefined, workers: intFlag(values['workers'], 'workers', 1, 256), site: values['site'] as string | undefined, jsDomain: values['js-domain'] as string | undefined, metricsPort: intFlag(values['metrics-port'], 'metrics-port') });
        return;
      }
      default:
        await clientVerb(verb, values, positionals, loadConfig(process.env));
        process.exitCode = 0;
    }
  } catch (err: unknown) {
    if (err instanceof Exit) process.exit(err.code);
    const e = err instanceof TypeError && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS') ? new HayateError('HAYATE_ERR_BAD_REQUEST', `${err.message} (see hayate ${verb} --help)`) : toHayateError(err);
    process.stderr.write(`hayate ${verb}: ${e.code}: ${e.message}\n`);
    process.exit(e.code === 'HAYATE_ERR_BAD_REQUEST' || e.code === 'HAYATE_ERR_INVALID_OPTION' ? 2 : 1);
  }
}
