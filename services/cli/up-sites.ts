/**
 * `hayate up --sites N`: the embedded cluster as an edge deployment. A hub of 3 nats-servers with JetStream
 * (domain `hub`, buckets and streams with 3 replicas), a leaf-node nats-server per site, `--invokers`
 * invokers per site connected to their site's leaf, and the controller on the hub. Each server and service
 * is its own OS process on loopback, so a site's invokers, its leaf or a hub server can be killed alone.
 *
 * Routing is NATS' own: a call published at a site's leaf goes to that site's invokers (local queue
 * members first) and crosses to the hub, and so to another site, only when the site has none left.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file';
import type { Logger } from '../common/logger';
import { NatsCluster } from '../common/nats-cluster';
import { onShutdownSignal } from '../common/signals';
import { deployExamples, EXAMPLES_SCRIPT } from './examples';
import { announceReady } from './ready-banner';
import { NatsLeaf } from './nats-leaf';
import { freePort, HAYATE_BIN, spawnUntilReady, stopChild } from './processes';
import type { UpOptions } from './up';
import { startInvoker } from './up';

/** JetStream domain of the hub; site processes get it as HAYATE_JS_DOMAIN. */
export const HUB_DOMAIN = 'hub';
/** Servers in the hub: the smallest JetStream cluster that survives the loss of one. */
const HUB_SIZE = 3;

/** `site-a`, `site-b`, … */
export function siteName(index: number): string {
  return `site-${String.fromCharCode(97 + index)}`;
}

/**
 * Runs the hub-and-sites topology until SIGINT/SIGTERM; prints the ready line like `up` (its `nats=` is
 * the first hub server) and writes the state file with `hub` and `sites` added.
 */
export async function upSites(options: UpOptions & { sites: number }, log: Logger): Promise<void> {
  const data = resolve(options.data);
  const leafPorts = await Promise.all(Array.from({ length: HUB_SIZE }, () => freePort()));
  const hub = await NatsCluster.start({
    dir: join(data, 'hub'),
    size: HUB_SIZE,
    name: 'hub',
    jetstreamDomain: HUB_DOMAIN,
    extraConfig: (i) => [`leafnodes { listen: 127.0.0.1:${leafPorts[i]} }`],
  });
  log.info({ servers: hub.urls }, 'nats hub ready');
  let stopping = false;
  // what started so far, stopped in reverse when a later step fails (children would outlive us otherwise)
  const undo: (() => Promise<void>)[] = [() => hub.stop()];
  const leaves: NatsLeaf[] = [];
  // every service stores and reads through the hub's domain with 3 replicas, wherever it connects
  const env = { ...process.env, HAYATE_REPLICAS: String(HUB_SIZE), HAYATE_JS_DOMAIN: HUB_DOMAIN };
  let controller: Awaited<ReturnType<typeof spawnUntilReady>>;
  let sites: { leaf: NatsLeaf; invokers: Awaited<ReturnType<typeof startInvoker>>[] }[];
  try {
    for (let i = 0; i < options.sites; i += 1) {
      const leaf = await NatsLeaf.start({ dir: join(data, 'sites'), name: siteName(i), hubLeafUrls: leafPorts.map((p) => `nats-leaf://127.0.0.1:${p}`), hubDomain: HUB_DOMAIN });
      undo.push(() => leaf.stop());
      leaf.onExit((code) => {
        if (!stopping) log.error({ site: leaf.name, code }, 'leaf node exited');
      });
      leaves.push(leaf);
      log.info({ site: leaf.name, url: leaf.url }, 'leaf node ready');
    }
    const started = await spawnUntilReady(process.execPath, [HAYATE_BIN, 'controller', '--nats', hub.url, '--port', String(options.httpPort), '--host', '127.0.0.1'], /^hayate controller ready http=/, { label: 'controller', env });
    undo.push(() => stopChild(started.child));
    controller = started;
    const workerArgs = options.workers !== undefined ? ['--workers', String(options.workers)] : [];
    const attempts = leaves.flatMap((leaf) => Array.from({ length: options.invokers }, (_, j) => ({ leaf, run: startInvoker(leaf.url, `invoker-${leaf.name}-${j + 1}`, [...workerArgs, '--site', leaf.name], env) })));
    const outcomes = await Promise.allSettled(attempts.map((a) => a.run));
    for (const o of outcomes) if (o.status === 'fulfilled') undo.push(() => stopChild(o.value.child));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    sites = leaves.map((leaf) => ({ leaf, invokers: outcomes.flatMap((o, i) => (o.status === 'fulfilled' && attempts[i]?.leaf === leaf ? [o.value] : [])) }));
  } catch (err: unknown) {
    stopping = true;
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  }
  const http = controller.line.replace(/^hayate controller ready http=/, '').trim();
  for (const site of sites) {
    for (const inv of site.invokers) {
      inv.child.once('exit', (code, signal) => {
        if (!stopping) log.warn({ invoker: inv.id, site: site.leaf.name, code, signal }, 'invoker exited');
      });
    }
  }

  onShutdownSignal(log, async () => {
    stopping = true;
    // drain order: stop intake at the controller, invokers finish their work, then the sites' links, then the hub
    await stopChild(controller.child);
    await Promise.all(sites.flatMap((s) => s.invokers.map((i) => stopChild(i.child))));
    await Promise.all(leaves.map((l) => l.stop()));
    await hub.stop();
  });

  let deployed: string[] = [];
  if (options.examples) {
    execFileSync('bash', [EXAMPLES_SCRIPT], { stdio: ['ignore', 2, 2] });
    deployed = await deployExamples(http, log);
    log.info({ functions: deployed }, 'examples deployed');
  }
  const firstHub = hub.urls[0] ?? '';
  if (options.stateFile !== undefined) {
    const ids = (s: (typeof sites)[number]) => s.invokers.map((i) => ({ id: i.id, pid: i.child.pid, metrics: i.metrics }));
    const state = {
      http,
      nats: firstHub,
      invokers: sites.flatMap(ids),
      controller: { pid: controller.child.pid },
      hub: { domain: HUB_DOMAIN, servers: hub.servers.map((s) => ({ name: s.name, url: s.url, pid: s.child?.pid })) },
      sites: sites.map((s) => ({ name: s.leaf.name, nats: s.leaf.url, pid: s.leaf.pid, invokers: ids(s) })),
      data,
    };
    writeFileAtomic(options.stateFile, JSON.stringify(state, null, 2));
  }
  process.stdout.write(`hayate ready http=${http} nats=${firstHub}\n`);
  const invokers = sites.flatMap((s) => s.invokers.map((i) => ({ id: i.id, pid: i.child.pid })));
  announceReady({ http, nats: firstHub, invokers, data, examples: deployed }, options.pretty === true, log);
}
