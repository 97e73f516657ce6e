/**
 * Log lines people can read (issue 16): pretty on a terminal, JSON lines when piped or under CI, and
 * `--log-format` / `HAYATE_LOG_FORMAT` override. The chooser alone, then a real `hayate controller` run piped,
 * with the flag, with the variable, and on a pseudo-terminal (`script -q`).
 */
import { spawn } from 'node:child_process';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { loadConfig } from '../services/common/config';
import { HayateError } from '../services/common/errors';
import { chooseLogFormat } from '../services/common/logger';
import { readyBanner } from '../services/cli/ready-banner';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { HAYATE_BIN } from './helpers/paths';

const test = anyTest as TestFn<{ cluster: Cluster }>;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 0 });
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

/** Runs a controller until it is ready; returns everything it printed (stdout and stderr, as one stream under `script`). */
function controllerOutput(nats: string, extra: { args?: string[]; env?: Record<string, string>; tty?: boolean }): Promise<string> {
  const argv = [HAYATE_BIN, 'controller', '--nats', nats, '--port', '0', ...(extra.args ?? [])];
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra.env };
  delete env['CI'];
  if (extra.env?.['CI'] !== undefined) env['CI'] = extra.env['CI'];
  const quoted = [process.execPath, ...argv].map((a) => `'${a}'`).join(' ');
  const child = extra.tty === true ? spawn('script', ['-qefc', quoted, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`controller not ready in 60 s:\n${out}`));
    }, 60_000);
    const take = (d: Buffer) => {
      out += d.toString();
      // the ready line comes after the "controller listening" log line
      if (/hayate controller ready/.test(out) && /controller listening/.test(out)) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        child.once('exit', () => resolve(out));
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
  });
}

const PRETTY_LINE = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(controller\): controller listening \{"address":"http:\/\/127\.0\.0\.1:\d+","auth":false\}$/m;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/;

test('log format is pretty on a terminal and JSON when piped when left to auto', (t) => {
  t.is(chooseLogFormat('auto', true), 'pretty');
  t.is(chooseLogFormat('auto', false), 'json');
  t.is(chooseLogFormat('json', true), 'json');
  t.is(chooseLogFormat('pretty', false), 'pretty');
});

test('log format config is auto by default, JSON under CI and the variable when set', (t) => {
  t.is(loadConfig({}).logFormat, 'auto');
  t.is(loadConfig({ CI: 'true' }).logFormat, 'json');
  t.is(loadConfig({ CI: 'true', HAYATE_LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  const err = t.throws(() => loadConfig({ HAYATE_LOG_FORMAT: 'fancy' }), { instanceOf: HayateError });
  t.is(err?.code, 'HAYATE_ERR_INVALID_OPTION');
});

test('controller logs JSON lines when its stderr is a pipe', async (t) => {
  const out = await controllerOutput(t.context.cluster.nats, {});
  const line = out.split('\n').find((l) => l.includes('controller listening'));
  const record = JSON.parse(line ?? '') as Record<string, unknown>;
  t.like(record, { level: 30, name: 'controller', msg: 'controller listening', auth: false });
});

test('controller logs pretty lines without colour when piped with --log-format pretty', async (t) => {
  const out = await controllerOutput(t.context.cluster.nats, { args: ['--log-format', 'pretty'] });
  t.regex(out, PRETTY_LINE);
  t.notRegex(out, ANSI);
});

test('controller logs pretty lines when HAYATE_LOG_FORMAT is pretty', async (t) => {
  t.regex(await controllerOutput(t.context.cluster.nats, { env: { HAYATE_LOG_FORMAT: 'pretty' } }), PRETTY_LINE);
});

test('controller logs coloured pretty lines when run on a terminal', async (t) => {
  const out = await controllerOutput(t.context.cluster.nats, { tty: true });
  t.regex(out, ANSI);
  t.regex(out.replace(/\u001b\[\d+m/g, '').replace(/\r/g, ''), PRETTY_LINE);
});

test('controller logs JSON on a terminal when asked with --log-format json', async (t) => {
  const out = await controllerOutput(t.context.cluster.nats, { tty: true, args: ['--log-format', 'json'] });
  const line = out.replace(/\r/g, '').split('\n').find((l) => l.includes('controller listening'));
  t.like(JSON.parse(line ?? '') as Record<string, unknown>, { name: 'controller', msg: 'controller listening' });
});

test('controller refuses an unknown --log-format with the accepted names', async (t) => {
  const child = spawn(process.execPath, [HAYATE_BIN, 'controller', '--log-format', 'xml'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 2);
  t.regex(err, /HAYATE_ERR_INVALID_OPTION: Invalid --log-format "xml": expected auto, json, pretty/);
});

test('up banner names URLs, invokers, data, examples and three commands when the cluster is ready', (t) => {
  const text = readyBanner({ http: 'http://127.0.0.1:9999', nats: 'nats://127.0.0.1:4333', invokers: [{ id: 'inv-1', pid: 42 }], data: '/d', examples: ['upper'] });
  t.regex(text, /^ {2}HTTP {6}http:\/\/127\.0\.0\.1:9999/m);
  t.regex(text, /^ {2}NATS {6}nats:\/\/127\.0\.0\.1:4333$/m);
  t.regex(text, /^ {2}invokers {2}inv-1 \(pid 42\)$/m);
  t.regex(text, /^ {2}data {6}\/d$/m);
  t.regex(text, /^ {2}examples {2}upper$/m);
  const next = text.split('try next:\n')[1]?.split('\n').slice(0, 3);
  t.deepEqual(next, ['  echo hello | hayate invoke upper --url http://127.0.0.1:9999', '  hayate ls --url http://127.0.0.1:9999', '  hayate status --url http://127.0.0.1:9999']);
});
