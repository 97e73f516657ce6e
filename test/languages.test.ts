/**
 * Five languages, each an unchanged stdin → stdout program (issue 13): the examples in C, C++, Rust,
 * AssemblyScript and Lua (Debian's interpreter running a script), built by scripts/build-examples.sh and
 * deployed with the spec of their hayate.json like `hayate up --examples`, invoked over HTTP and over NATS
 * against a real local cluster.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import anyTest from 'ava';
import type { TestFn } from 'ava';
import { exampleModule, exampleOptions } from '../services/cli/examples';
import { packDir } from '../services/cli/pack-dir';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { exampleWasm } from './helpers/paths';

const test = anyTest as TestFn<{ cluster: Cluster }>;
const EXAMPLES = join(__dirname, '..', '..', 'examples', 'functions');

/** One example per language, an input and the answer its program gives. */
const CASES = [
  { lang: 'C', fn: 'upper', input: 'hello, edge', output: 'HELLO, EDGE' },
  { lang: 'C++', fn: 'sort-lines', input: 'pear\napple\nfig\n', output: 'apple\nfig\npear\n' },
  { lang: 'Rust', fn: 'reverse', input: 'héllo\nwörld\n', output: 'olléh\ndlröw\n' },
  { lang: 'AssemblyScript', fn: 'rot13', input: 'Hello, World!', output: 'Uryyb, Jbeyq!' },
  { lang: 'Lua', fn: 'lua-wordfreq', input: 'the cat and the hat and the bat', output: '3 the\n2 and\n1 bat\n1 cat\n1 hat\n' },
] as const;

test.before(async (t) => {
  t.context.cluster = await startCluster({ invokers: 1 });
  for (const c of CASES) {
    // WASM tier only here: the container twins are covered by projects.test.ts
    await t.context.cluster.client.deploy(c.fn, exampleModule(c.fn), { ...exampleOptions(c.fn), policy: 'wasm' });
  }
});

test.after.always(async (t) => {
  await t.context.cluster?.stop();
});

for (const c of CASES) {
  test(`${c.lang} example ${c.fn} answers over HTTP when invoked with stdin`, async (t) => {
    const r = await t.context.cluster.client.invoke(c.fn, Buffer.from(c.input));
    t.is(r.status, 200, JSON.stringify(r.error));
    t.is(r.body.toString(), c.output);
    t.is(r.headers.get('hayate-tier'), 'wasm');
  });

  test(`${c.lang} example ${c.fn} answers over NATS when called on hayate.v1.call`, async (t) => {
    const msg = await t.context.cluster.nc.request(`hayate.v1.call.${c.fn}`, Buffer.from(c.input), { timeout: 15_000 });
    t.is(msg.headers?.get('Hayate-Status'), 'OK');
    t.is(Buffer.from(msg.data).toString(), c.output);
  });
}

test('C++ example sort-lines takes request args when invoked with -r', async (t) => {
  const r = await t.context.cluster.client.invoke('sort-lines', Buffer.from('a\nc\nb\n'), { args: ['-r'] });
  t.is(r.body.toString(), 'c\nb\na\n');
});

test('Lua interpreter reports a script error on stderr with FUNCTION_ERROR when the script raises', async (t) => {
  await t.context.cluster.client.deploy('lua-raise', readFileSync(exampleWasm('lua-wordfreq')), { arg: ['-e', 'error("no input allowed")'] });
  const r = await t.context.cluster.client.invoke('lua-raise', Buffer.from('x'));
  t.is(r.status, 502);
  t.is(r.error?.code, 'HAYATE_ERR_FUNCTION_ERROR');
  t.regex(r.error?.stderr ?? '', /lua: \(command line\):1: no input allowed/);
});

test('Lua interpreter runs a script from the function bundle when deployed with its files', async (t) => {
  // the unchanged interpreter, and the script as a file of the function's bundle, read-only at /
  const { client } = t.context.cluster;
  const { digest } = await client.putBundle(await packDir(join(EXAMPLES, 'lua-wordfreq')));
  await client.deploy('lua-files', readFileSync(exampleWasm('lua-wordfreq')), { files: digest, arg: '/main.lua' });
  const r = await client.invoke('lua-files', Buffer.from('b a b'));
  t.is(r.status, 200, JSON.stringify(r.error));
  t.is(r.body.toString(), '2 b\n1 a\n');
});
