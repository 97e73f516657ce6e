/**
 * `hayate <verb>`: the CLI (SPEC §6). The process entry of every hayate service: `up`, `controller` and
 * `invoker` start services; the other verbs are clients of a controller.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from '../common/config';
import type { Config } from '../common/config';
import { HayateError, toHayateError } from '../common/errors';
import { createLogger } from '../common/logger';
import { version } from '../common/version';
import { exitCodeOf, HttpClient } from './http-client';
import { HELP, verbHelp } from './help';
import { packDir } from './pack-dir';

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
    help: { type: 'boolean', short: 'h', default: false },
  },
  controller: {
    nats: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    insecure: { type: 'boolean', default: false },
    'js-domain': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  invoker: {
    nats: { type: 'string' },
    id: { type: 'string' },
    workers: { type: 'string' },
    site: { type: 'string' },
    'js-domain': { type: 'string' },
    'metrics-port': { type: 'string' },
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
  invoke: { ...CLIENT_OPTIONS, async: { type: 'boolean', default: false }, arg: { type: 'string', multiple: true } },
  ls: CLIENT_OPTIONS,
  get: CLIENT_OPTIONS,
  rm: CLIENT_OPTIONS,
  status: CLIENT_OPTIONS,
  activation: CLIENT_OPTIONS,
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

async function clientVerb(verb: string, values: Record<string, unknown>, positionals: string[], config: Readonly<Config>): Promise<void> {
  const json = values['json'] === true;
  const client = new HttpClient(typeof values['url'] === 'string' ? values['url'] : config.controllerUrl, config.apiKey);
  switch (verb) {
    case 'deploy': {
      const [name, file] = need(positionals, 2, verb);
      const options: Record<string, string | string[]> = {};
      const map: [string, string][] = [['image', 'image'], ['memory-mb', 'memory_mb'], ['timeout-ms', 'timeout_ms'], ['max-concurrency', 'max_concurrency'], ['policy', 'policy']];
      for (const [flag, key] of map) if (typeof values[flag] === 'string') options[key] = values[flag] as string;
      if (Array.isArray(values['env'])) options['env'] = values['env'] as string[];
      if (Array.isArray(values['arg'])) options['arg'] = values['arg'] as string[];
      if (typeof values['files'] === 'string') {
        const bundle = await client.putBundle(await packDir(values['files']));
        options['files'] = bundle.digest;
        if (typeof values['files-path'] === 'string') options['files_path'] = values['files-path'];
        if (values['files-writable'] === true) options['files_writable'] = 'true';
      }
      const spec = await client.deploy(name!, readFileSync(file!), options);
      print(spec, json, () => `deployed ${String(spec['name'])} version ${String(spec['version'])} digest ${String(spec['digest']).slice(0, 12)}`);
      return;
    }
    case 'invoke': {
      const [name] = need(positionals, 1, verb);
      const r = await client.invoke(name!, await readStdin(), { args: (values['arg'] as string[] | undefined) ?? [], async: values['async'] === true });
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
      print({ functions: fns }, json, () => (fns.length === 0 ? '(no functions)' : fns.map((f) => `${String(f['name']).padEnd(24)} v${String(f['version']).padEnd(5)} ${String(f['policy']).padEnd(9)} ${String(f['digest']).slice(0, 12)} ${String(f['image'] ?? '')}`).join('\n')));
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
    default:
      throw new HayateError('HAYATE_ERR_BAD_REQUEST', `Unknown verb ${verb}`);
  }
}

function formatStatus(s: Record<string, unknown>): string {
  const invokers = (s['invokers'] as Record<string, unknown>[] | undefined) ?? [];
  if (invokers.length === 0) return 'no invokers answered';
  const lines: string[] = [];
  for (const inv of invokers) {
    lines.push(`${String(inv['id'])}  ${String(inv['state'])}  site=${String(inv['site'] || '-')}  workers=${String(inv['workers'])}  in_flight=${String(inv['in_flight'])}  invocations=${String(inv['invocations'])}  containers=${inv['container_tier'] === true ? 'yes' : `no (${String(inv['container_reason'])})`}`);
    for (const f of (inv['functions'] as Record<string, Record<string, unknown>>[] | undefined) ?? []) {
      const w = f['wasm'] ?? {};
      const c = f['container'] ?? {};
      lines.push(`  ${String(f['name']).padEnd(20)} ${String(f['state']).padEnd(9)} wasm n=${String(w['invocations'])} p50=${String(w['p50_us'])}us p99=${String(w['p99_us'])}us  container n=${String(c['invocations'])} p50=${String(c['p50_us'])}us p99=${String(c['p99_us'])}us${f['last_error'] ? `  (${String(f['last_error'])})` : ''}`);
    }
  }
  return lines.join('\n');
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
    switch (verb) {
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
          },
          log,
        );
        return; // keeps running until a signal
      }
      case 'bench': {
        const { runBench } = await import('../../bench/bench');
        await runBench({ quick: values['quick'] === true, jsonFile: values['json'] as string | undefined, reportDir: values['report'] as string | undefined, invokers: intFlag(values['invokers'], 'invokers', 1, 16) ?? 1 });
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
