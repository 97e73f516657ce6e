/**
 * Regenerates the operator page's screenshots in docs/ (`npm run docs:screenshots`, after a build with the
 * example images): a real `hayate up` with two invokers, functions in each tier state (cold, wasm,
 * container), a few async activations (one failing), then the page in chromium, light and dark at
 * 1280×800, and dark at a phone width.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpClient } from '../services/cli/http-client';
import { startLocalCluster } from '../services/common/local-cluster';
import { launchChromium } from '../test/helpers/browser';
import { exampleWasm, ROOT } from '../test/helpers/paths';

const DOCS = join(ROOT, 'docs');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const cluster = await startLocalCluster({ invokers: 2, env: { HAYATE_HOT_CALLS: '5', HAYATE_CONTAINER_IDLE_MS: '600000', HAYATE_LOG_LEVEL: 'error' } });
  const browser = await launchChromium();
  try {
    const client = new HttpClient(cluster.http);
    const image = (n: string) => `hayate-example/${n}:latest`;
    await client.deploy('matmul', readFileSync(exampleWasm('matmul')), { image: image('matmul'), arg: ['320'] });
    await client.deploy('upper', readFileSync(exampleWasm('upper')), { image: image('upper') });
    await client.deploy('wordcount', readFileSync(exampleWasm('wordcount')), { policy: 'wasm' });
    await client.deploy('sha256', readFileSync(exampleWasm('sha256')));
    await client.deploy('env-echo', readFileSync(exampleWasm('env-echo')), { env: ['EXIT_CODE=3'] });
    await client.deploy('primes', readFileSync(exampleWasm('primes'))); // never called: cold
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
    for (const p of [page, phone]) {
      await p.goto(`${cluster.http}/`);
      await p.locator('#conn[data-state="live"]').waitFor({ timeout: 30_000 });
    }
    // 45 s of mixed traffic, so the chart has history: matmul moves to its container, the rest stay in WASM
    const until = Date.now() + 45_000;
    const loop = async (fn: string, body: string, pauseMs: number) => {
      while (Date.now() < until) {
        await client.invoke(fn, Buffer.from(body)).catch(() => undefined);
        await sleep(pauseMs);
      }
    };
    const asyncCalls = (async () => {
      for (let i = 0; i < 6 && Date.now() < until; i += 1) {
        await client.invoke(i % 3 === 2 ? 'env-echo' : 'sha256', Buffer.from(`record ${i}`), { async: true });
        await sleep(4000);
      }
    })();
    const traffic = Promise.all([loop('matmul', '', 100), loop('matmul', '', 150), loop('upper', 'hello', 50), loop('wordcount', 'the quick brown fox', 200), asyncCalls]);
    await page.locator('#chart-fn').selectOption('matmul');
    await phone.locator('#chart-fn').selectOption('matmul');
    await page.locator('#logs-fn').selectOption('env-echo'); // its runs write stderr and fail: both show
    // the pictures are taken while the traffic still runs, so rates and in-flight calls show
    await sleep(until - Date.now() - 12_000);
    await page.screenshot({ path: join(DOCS, 'operations-light.png') });
    await page.click('#theme');
    await sleep(500);
    await page.screenshot({ path: join(DOCS, 'operations-dark.png') });
    await phone.screenshot({ path: join(DOCS, 'operations-phone.png') });
    await traffic;
    process.stdout.write(`screenshots: ${['light', 'dark', 'phone'].map((n) => `docs/operations-${n}.png`).join(', ')}\n`);
  } finally {
    await browser.close();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
