/**
 * The deploy kits under deploy/ stay valid and in step with the code: every NATS config passes
 * `nats-server -t`, the YAML parses into what Kubernetes and compose expect, every HAYATE_* variable they
 * set is one hayate reads, and the systemd units pass `systemd-analyze verify` where it exists.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import test from 'ava';
import { loadConfig } from '../services/common/config';
import { natsServerBinary } from '../services/cli/processes';
import { ROOT } from './helpers/paths';

// js-yaml comes with ava (through supertap); its 3.x API is two functions, typed here to keep `any` out
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require('js-yaml') as { safeLoad(s: string): unknown; safeLoadAll(s: string): unknown[] };

const DEPLOY = join(ROOT, 'deploy');

type Doc = Record<string, unknown>;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

function at(doc: unknown, ...path: string[]): unknown {
  let cur = doc;
  for (const key of path) cur = typeof cur === 'object' && cur !== null ? (cur as Doc)[key] : undefined;
  return cur;
}

function k8sDocs(): { file: string; doc: Doc }[] {
  const dir = join(DEPLOY, 'k8s');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'nats-values.yaml' && f !== 'kustomization.yaml')
    .flatMap((f) => yaml.safeLoadAll(readFileSync(join(dir, f), 'utf8')).filter((d): d is Doc => d !== null).map((doc) => ({ file: f, doc })));
}

test('nats-server accepts every deploy/nats config when checked with -t', async (t) => {
  const dir = join(DEPLOY, 'nats');
  const configs = readdirSync(dir).filter((f) => f.endsWith('.conf'));
  t.true(configs.includes('hub.conf') && configs.includes('leaf.conf') && configs.includes('single.conf'), `found ${configs.join(', ')}`);
  const bin = natsServerBinary();
  for (const conf of configs) {
    // -t resolves `include` relative to the file, so the check runs on the file where it lies
    const { code, output } = await run(bin, ['-c', join(dir, conf), '-t']);
    t.is(code, 0, `${conf}: ${output.trim()}`);
    t.regex(output, /is valid/, conf);
  }
});

test('deploy kits set only HAYATE_ variables hayate reads when scanned', (t) => {
  const read = new Set<string>();
  loadConfig(new Proxy({}, { get: (_target, key) => (read.add(String(key)), undefined) }));
  // read by deploy/docker/invoker-entrypoint.sh, which turns it into HAYATE_WATCHDOG and HAYATE_RUNTIME_DIR
  read.add('HAYATE_HOST_DIR');
  t.true(read.has('HAYATE_NATS_URL') && read.has('HAYATE_JS_DOMAIN'));
  let seen = 0;
  for (const file of filesUnder(DEPLOY)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\bHAYATE_[A-Z_]+\b/g)) {
      seen += 1;
      t.true(read.has(m[0]), `${relative(ROOT, file)} sets ${m[0]}, which nothing reads`);
    }
  }
  t.true(seen > 20, `only ${seen} HAYATE_ variables in deploy/`);
});

test('k8s manifests are Kubernetes objects with edge node selectors when parsed', (t) => {
  const docs = k8sDocs();
  for (const { file, doc } of docs) {
    t.is(typeof doc['apiVersion'], 'string', file);
    t.is(typeof doc['kind'], 'string', file);
    t.is(typeof at(doc, 'metadata', 'name'), 'string', file);
  }
  const kinds = docs.map((d) => `${String(d.doc['kind'])}/${String(at(d.doc, 'metadata', 'name'))}`);
  t.true(kinds.includes('Deployment/hayate-controller'), kinds.join(' '));
  t.true(kinds.includes('Service/hayate-controller'), kinds.join(' '));
  const invokers = docs.find((d) => d.doc['kind'] === 'DaemonSet')?.doc;
  t.deepEqual(at(invokers, 'spec', 'template', 'spec', 'nodeSelector'), { 'hayate.dev/role': 'edge' });
  // a Service or a DaemonSet that selects no pod of its own is a silent outage
  const controller = docs.find((d) => d.doc['kind'] === 'Deployment')?.doc;
  t.deepEqual(at(docs.find((d) => d.doc['kind'] === 'Service' && at(d.doc, 'metadata', 'name') === 'hayate-controller')?.doc, 'spec', 'selector'), at(controller, 'spec', 'selector', 'matchLabels'));
  for (const w of [controller, invokers]) {
    const labels = at(w, 'spec', 'template', 'metadata', 'labels') as Doc;
    for (const [k, v] of Object.entries(at(w, 'spec', 'selector', 'matchLabels') as Doc)) t.is(labels[k], v);
  }
  const kustomization = yaml.safeLoad(readFileSync(join(DEPLOY, 'k8s', 'kustomization.yaml'), 'utf8'));
  for (const r of at(kustomization, 'resources') as string[]) t.true(existsSync(join(DEPLOY, 'k8s', r)), r);
});

test('NATS Helm values and compose agree with the NATS configs when parsed', (t) => {
  const hub = readFileSync(join(DEPLOY, 'nats', 'hub.conf'), 'utf8');
  const domain = /domain:\s*(\S+)/.exec(hub)?.[1];
  t.is(domain, 'hub');
  const values = yaml.safeLoad(readFileSync(join(DEPLOY, 'k8s', 'nats-values.yaml'), 'utf8'));
  t.is(at(values, 'config', 'jetstream', 'merge', 'domain'), domain);
  t.is(at(values, 'config', 'cluster', 'replicas'), 3);
  t.is(at(values, 'config', 'leafnodes', 'enabled'), true);
  for (const { doc } of k8sDocs()) {
    for (const c of (at(doc, 'spec', 'template', 'spec', 'containers') as Doc[] | undefined) ?? []) {
      const domainEnv = (c['env'] as Doc[]).find((e) => e['name'] === 'HAYATE_JS_DOMAIN');
      if (domainEnv !== undefined) t.is(domainEnv['value'], domain);
    }
  }

  const composeDir = join(DEPLOY, 'compose');
  const compose = yaml.safeLoad(readFileSync(join(composeDir, 'compose.yaml'), 'utf8'));
  const services = at(compose, 'services') as Doc;
  t.deepEqual(Object.keys(services).sort(), ['controller', 'invoker', 'nats']);
  for (const name of ['controller', 'invoker']) {
    const dockerfile = at(services, name, 'build', 'dockerfile') as string;
    const context = join(composeDir, at(services, name, 'build', 'context') as string);
    t.true(existsSync(join(context, dockerfile)), `${name}: ${dockerfile}`);
    t.is(at(services, name, 'environment', 'HAYATE_NATS_URL'), 'nats://nats:4222');
  }
  const volumes = at(services, 'invoker', 'volumes') as string[];
  t.true(volumes.includes('/var/run/docker.sock:/var/run/docker.sock'), 'the invoker gets the Docker socket');
  const natsCommand = at(services, 'nats', 'command') as string[];
  t.true(existsSync(join(DEPLOY, 'nats', natsCommand[1]!.replace('/etc/nats/', ''))), natsCommand.join(' '));
});

test('systemd units pass systemd-analyze verify when it is installed', async (t) => {
  const units = readdirSync(join(DEPLOY, 'systemd')).filter((f) => f.endsWith('.service'));
  t.true(units.includes('hayate-invoker.service') && units.includes('hayate-nats-leaf.service'));
  if (!existsSync('/usr/bin/systemd-analyze')) {
    t.log('systemd-analyze not installed: units only listed');
    return;
  }
  for (const unit of units) {
    const { code, output } = await run('/usr/bin/systemd-analyze', ['verify', join(DEPLOY, 'systemd', unit)]);
    t.is(code, 0, `${unit}: ${output}`);
    t.notRegex(output, /\S/, `${unit}: ${output}`);
  }
});
