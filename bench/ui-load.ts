/**
 * What the operator page costs: its weight on first load, and the controller's CPU with 10 pages open
 * during a steady load, against the same load with none open.
 *
 *   npm run build && node dist/bench/ui-load.js [--rate 1000] [--seconds 20] [--pages 10]
 *
 * A real `hayate up` (2 invokers, container tier as configured), `upper` deployed, and a paced load of
 * `--rate` calls/s from this process over NATS (`hayate.v1.call.upper`, at most 256 in flight), so the
 * controller's CPU is what it spends on its own and on the pages. Two windows of `--seconds` each under
 * the same load: no page open, then `--pages` chromium tabs on the page. The controller's CPU comes from
 * /proc/<pid>/stat (user + system); the status requests invokers answered are counted on NATS. Prints
 * the figures to stdout (progress on stderr). The machine is shared and noisy: run it more than once.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import type { NatsConnection } from 'nats';
import type { Browser, Page } from 'playwright-core';
import { startLocalCluster } from '../services/common/local-cluster';
import { launchChromium } from '../test/helpers/browser';
import { deploy, exampleModule } from './hayate-api';
import { cpuSeconds } from './cpu';

const log = (line: string): void => void process.stderr.write(`[ui-load] ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const MAX_IN_FLIGHT = 256;

/** A paced open-loop load: `rate` calls a second in 10 ms slices, until stopped. */
function startLoad(nc: NatsConnection, rate: number): { done: () => number; failed: () => number; stop: () => Promise<void> } {
  let done = 0;
  let failed = 0;
  let inFlight = 0;
  let owed = 0;
  const pending = new Set<Promise<void>>();
  const body = Buffer.from('hello');
  const timer = setInterval(() => {
    owed += rate / 100;
    while (owed >= 1 && inFlight < MAX_IN_FLIGHT) {
      owed -= 1;
      inFlight += 1;
      const p = nc
        .request('hayate.v1.call.upper', body, { timeout: 10_000 })
        .then(
          (m) => (m.headers?.get('Hayate-Status') === 'OK' ? (done += 1) : (failed += 1)),
          () => (failed += 1),
        )
        .then(() => {
          inFlight -= 1;
          pending.delete(p);
        });
      pending.add(p);
    }
    owed = Math.min(owed, rate); // behind by more than a second: drop, do not burst
  }, 10);
  return {
    done: () => done,
    failed: () => failed,
    stop: async () => {
      clearInterval(timer);
      await Promise.allSettled([...pending]);
    },
  };
}

/** Bytes a fresh page transfers until it is live (headers + bodies of finished responses; the SSE stream is counted apart). */
async function pageWeight(browser: Browser, url: string): Promise<{ bytes: number; requests: number; files: string[] }> {
  const context = await browser.newContext(); // no cache
  const page = await context.newPage();
  let bytes = 0;
  const files: string[] = [];
  page.on('requestfinished', (req) => {
    void req.sizes().then((s) => {
      bytes += s.responseBodySize + s.responseHeadersSize;
      files.push(`${new URL(req.url()).pathname} ${s.responseBodySize + s.responseHeadersSize}`);
    });
  });
  await page.goto(url, { timeout: 120_000 });
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 120_000 });
  await sleep(500);
  await context.close();
  return { bytes, requests: files.length, files };
}

async function measure(label: string, controllerPid: number, nc: NatsConnection, load: ReturnType<typeof startLoad>, seconds: number) {
  let statusRequests = 0;
  const sub = nc.subscribe('hayate.v1.status', { callback: () => (statusRequests += 1) });
  const cpu0 = cpuSeconds(controllerPid);
  const calls0 = load.done();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = (cpuSeconds(controllerPid) - cpu0) / elapsed;
  sub.unsubscribe();
  const row = { label, callsPerSecond: (load.done() - calls0) / elapsed, controllerCpuMsPerSecond: cpu * 1000, statusRequestsPerSecond: statusRequests / elapsed };
  log(`${label}: ${row.callsPerSecond.toFixed(0)} calls/s, controller ${row.controllerCpuMsPerSecond.toFixed(1)} ms CPU/s, ${row.statusRequestsPerSecond.toFixed(2)} status requests/s`);
  return row;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '20' }, pages: { type: 'string', default: '10' } } });
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const pages = Number(values.pages);
  const cluster = await startLocalCluster({ invokers: 2, env: { HAYATE_LOG_LEVEL: 'error' } });
  const browser = await launchChromium();
  const nc = await connect({ servers: cluster.nats });
  let load: ReturnType<typeof startLoad> | null = null;
  try {
    const state = JSON.parse(readFileSync(join(cluster.dir, 'state.json'), 'utf8')) as { controller?: { pid: number } };
    const controllerPid = state.controller?.pid;
    if (controllerPid === undefined) throw new Error('hayate up state file has no controller pid');
    await deploy(cluster.http, 'upper', exampleModule('upper'));
    const weight = await pageWeight(browser, `${cluster.http}/`);
    log(`page weight: ${weight.bytes} bytes in ${weight.requests} responses`);
    load = startLoad(nc, rate);
    await sleep(3000); // warm up: modules compiled, workers busy
    const none = await measure('no page open', controllerPid, nc, load, seconds);
    const open: Page[] = [];
    for (let i = 0; i < pages; i += 1) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(`${cluster.http}/`, { waitUntil: 'domcontentloaded', timeout: 120_000 });
      open.push(page);
    }
    await Promise.all(open.map((p) => p.locator('#conn[data-state="live"]').waitFor({ timeout: 120_000 })));
    await sleep(2000);
    const withPages = await measure(`${pages} pages open`, controllerPid, nc, load, seconds);
    await load.stop();
    const perPage = (withPages.controllerCpuMsPerSecond - none.controllerCpuMsPerSecond) / pages;
    const out = {
      rate,
      seconds,
      pages,
      pageWeightBytes: weight.bytes,
      pageResponses: weight.files,
      none,
      withPages,
      addedControllerCpuMsPerSecondPerPage: Math.round(perPage * 100) / 100,
      failedCalls: load.failed(),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await load?.stop();
    await nc.close();
    await browser.close();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
