/**
 * The operator page in a real browser (Debian's chromium through playwright-core) against a real
 * `hayate up`: it loads and goes live, deploys a dropped module, invokes and shows the output, removes after
 * asking, shows a function moving to the container tier under load on its chart, turns a stopped invoker
 * stale, refuses to show anything without a key when API keys are set, and logs no console error.
 * Without chromium the tests are skipped with the reason (and fail under CI=true).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import anyTest from 'ava';
import type { ExecutionContext, TestFn } from 'ava';
import type { Browser, Page } from 'playwright-core';
import type { Cluster } from './helpers/cluster';
import { startCluster } from './helpers/cluster';
import { chromiumMissing, consoleErrors, launchChromium } from './helpers/browser';
import { exampleWasm, ROOT } from './helpers/paths';

type Context = { cluster: Cluster; browser: Browser };
const serial = anyTest.serial as TestFn<Context>;
const missing = chromiumMissing();
// skipped visibly, with the reason in the title, only where chromium really is missing; CI must have it
type Register = (title: string, fn: (t: ExecutionContext<Context>) => Promise<void>) => void;
const test: Register = missing === null || process.env['CI'] === 'true' ? (title, fn) => serial(title, fn) : (title, fn) => serial.skip(`${title} [skipped: ${missing}]`, fn);
const dockerTest: Register = existsSync('/var/run/docker.sock') ? test : (title, fn) => serial.skip(`${title} [skipped: no Docker engine here]`, fn);

serial.before(async (t) => {
  if (missing !== null && process.env['CI'] !== 'true') return;
  if (missing !== null) throw new Error(`CI=true but ${missing}`);
  if (!existsSync(`${ROOT}/dist/ui/index.html`)) throw new Error('dist/ui is not built: npm run build (or npm run build:ui)');
  // a small hot threshold makes matmul move to its container after a few calls (as in container-tier.test)
  t.context.cluster = await startCluster({ invokers: 2, env: { HAYATE_HOT_CALLS: '5', HAYATE_CONTAINER_IDLE_MS: '120000' } });
  t.context.browser = await launchChromium();
});

serial.after.always(async (t) => {
  await t.context.browser?.close();
  await t.context.cluster?.stop();
});

/** A page on the cluster, live (first tick received), with its console errors collected. */
async function openPage(t: ExecutionContext<Context>, base = t.context.cluster.http, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; errors: string[] }> {
  const page = await t.context.browser.newPage({ viewport });
  const errors = consoleErrors(page);
  await page.goto(`${base}/`);
  return { page, errors };
}

async function waitLive(page: Page): Promise<void> {
  await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
}

/** Drops a file on the page's deploy zone, as a person dragging it from their desktop would. */
async function dropFile(page: Page, name: string, bytes: Buffer): Promise<void> {
  await page.evaluate(
    ({ name, data }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(data)], name, { type: 'application/wasm' }));
      const zone = document.getElementById('drop')!;
      zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, data: [...bytes] },
  );
}

test('operator page loads against hayate up and shows every invoker live', async (t) => {
  const { cluster } = t.context;
  const { page, errors } = await openPage(t);
  await waitLive(page);
  for (const inv of cluster.invokers) await page.locator(`#fleet-table tr[data-invoker="${inv.id}"][data-stale="false"]`).waitFor();
  t.regex((await page.locator('#summary').textContent()) ?? '', /^2 invokers · \d+ functions? · /);
  t.false(await page.locator('#logs-fn').isDisabled(), 'the logs API is there: the log tail is on');
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page deploys a dropped module and shows a refused one with its typed error', async (t) => {
  const { cluster } = t.context;
  const { page, errors } = await openPage(t);
  await waitLive(page);
  const wasm = readFileSync(exampleWasm('upper'));
  await dropFile(page, 'page-upper.wasm', wasm);
  t.is(await page.inputValue('#deploy-name'), 'page-upper');
  await page.click('#deploy-form button[type="submit"]');
  await page.locator('#result', { hasText: 'Deployed page-upper version' }).waitFor();
  const spec = await cluster.client.get('page-upper');
  t.is(spec['digest'], createHash('sha256').update(wasm).digest('hex'));
  await page.locator('#functions-table tr[data-fn="page-upper"]').waitFor();

  await dropFile(page, 'not-a-module.wasm', Buffer.from('plain text, not WebAssembly'));
  await page.click('#deploy-form button[type="submit"]');
  const error = page.locator('#result .error');
  await error.waitFor();
  t.regex((await error.textContent()) ?? '', /400 HAYATE_ERR_INVALID_MODULE/);
  t.deepEqual(errors.filter((e) => !/status of 400/.test(e)), [], 'only the refused deploy’s 400');
  await page.close();
});

test('operator page invokes with a text body and shows the output and Server-Timing', async (t) => {
  const { page, errors } = await openPage(t);
  await waitLive(page);
  await page.locator('#invoke-fn option[value="page-upper"]').waitFor({ state: 'attached' });
  await page.selectOption('#invoke-fn', 'page-upper');
  await page.fill('#invoke-body', 'hello page');
  await page.click('#invoke-form button[type="submit"]');
  await page.locator('#invoke-output').waitFor();
  t.is(await page.textContent('#invoke-output'), 'HELLO PAGE');
  t.regex((await page.getAttribute('#result .timing', 'data-server-timing')) ?? '', /startup;dur=[\d.]+, exec;dur=[\d.]+, teardown;dur=[\d.]+, total;dur=[\d.]+/);
  t.regex((await page.textContent('#result')) ?? '', /200 OK · tier wasm · exit 0/);
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page follows a function’s log tail', async (t) => {
  const { cluster } = t.context;
  const { page, errors } = await openPage(t);
  await waitLive(page);
  await page.locator('#logs-fn option[value="page-upper"]').waitFor({ state: 'attached' });
  await page.selectOption('#logs-fn', 'page-upper');
  await page.locator('#logs-note', { hasText: 'Following page-upper' }).waitFor();
  const call = await cluster.client.invoke('page-upper', Buffer.from('tail me'));
  const id = call.headers.get('hayate-invocation-id') ?? '';
  await page.locator('#logs-out', { hasText: `${id.slice(0, 8)} = OK exit 0 wasm` }).waitFor({ timeout: 20_000 });
  t.regex((await page.textContent('#logs-out')) ?? '', new RegExp(`${id.slice(0, 8)} = OK exit 0 wasm [\\d.]+ ms \\(invoker-`));
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page lists an async activation as it completes and opens its record', async (t) => {
  const { page, errors } = await openPage(t);
  await waitLive(page);
  await page.locator('#invoke-fn option[value="page-upper"]').waitFor({ state: 'attached' });
  await page.selectOption('#invoke-fn', 'page-upper');
  await page.fill('#invoke-body', 'hello async');
  await page.check('#invoke-async');
  await page.click('#invoke-form button[type="submit"]');
  const queued = (await page.locator('#result', { hasText: '202 queued: activation' }).textContent()) ?? '';
  const id = /activation (\S+)/.exec(queued)?.[1] ?? '';
  const row = page.locator(`#activations-table tr[data-activation="${id}"]`);
  await row.locator('.b-succeeded').waitFor({ timeout: 30_000 });
  t.regex((await row.textContent()) ?? '', /page-upper.*succeeded.*ms wasm/);
  await row.locator('a').click();
  await page.locator('#record-dialog[open]').waitFor();
  const record = JSON.parse((await page.textContent('#record-body')) ?? '{}') as { id: string; output: string; state: string };
  t.deepEqual({ id: record.id, output: record.output, state: record.state }, { id, output: 'HELLO ASYNC', state: 'succeeded' });
  await page.click('#record-dialog button');
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page removes a function only after the person confirms', async (t) => {
  const { cluster } = t.context;
  const { page, errors } = await openPage(t);
  await waitLive(page);
  const remove = page.locator('#functions-table tr[data-fn="page-upper"] button[data-act="remove"]');
  await remove.click();
  await page.locator('#confirm-dialog[open]').waitFor();
  t.regex((await page.textContent('#confirm-message')) ?? '', /Remove function page-upper\?/);
  await page.click('#confirm-dialog button[value="cancel"]');
  t.is((await cluster.client.get('page-upper'))['name'], 'page-upper', 'still deployed after Cancel');
  await remove.click();
  await page.click('#confirm-ok');
  await page.locator('#result', { hasText: 'Removed page-upper' }).waitFor();
  t.is((await fetch(`${cluster.http}/v1/functions/page-upper`)).status, 404);
  t.deepEqual(errors, []);
  await page.close();
});

dockerTest('operator page shows a hot function moving to the container tier, on its chart', async (t) => {
  const { cluster } = t.context;
  await cluster.client.deploy('matmul', readFileSync(exampleWasm('matmul')), { image: 'hayate-example/matmul:latest', arg: ['320'] });
  const { page, errors } = await openPage(t);
  await waitLive(page);
  await page.locator('#functions-table tr[data-fn="matmul"] button[data-act="chart"]').click();
  t.is(await page.getAttribute('#chart', 'data-fn'), 'matmul');
  let loading = true;
  const load = Promise.all(
    [0, 1].map(async () => {
      while (loading) await cluster.nc.request('hayate.v1.call.matmul', new Uint8Array(0), { timeout: 30_000 }).catch(() => undefined);
    }),
  );
  try {
    await page.locator('#functions-table tr[data-fn="matmul"][data-state="container"]').first().waitFor({ timeout: 90_000 });
    await page.waitForFunction(() => Number(document.getElementById('chart')?.dataset['pointsContainer']) > 0, undefined, { timeout: 30_000 });
  } finally {
    loading = false;
    await load;
  }
  t.true(Number(await page.getAttribute('#chart', 'data-points-wasm')) > 0, 'the WASM calls before the move are on the chart too');
  t.regex((await page.textContent('#chart-legend')) ?? '', /^matmul — .*container: p50 [\d.]+ (µs|ms|s), p99/);
  const row = page.locator('#functions-table tr[data-fn="matmul"][data-state="container"]').first();
  t.regex((await row.textContent()) ?? '', /warming → container/);
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page is usable at a phone width', async (t) => {
  const { page, errors } = await openPage(t, t.context.cluster.http, { width: 390, height: 844 });
  await waitLive(page);
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling of the page');
  t.true(await page.locator('#invoke-form button[type="submit"]').isVisible());
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page turns an invoker that stops answering stale, and live again when it answers', async (t) => {
  const { cluster } = t.context;
  const { page, errors } = await openPage(t);
  await waitLive(page);
  const victim = cluster.invokers[1]!;
  process.kill(victim.pid, 'SIGSTOP');
  try {
    await page.locator(`#fleet-table tr[data-invoker="${victim.id}"][data-stale="true"]`).waitFor({ timeout: 20_000 });
    t.regex((await page.textContent('#summary')) ?? '', /2 invokers \(1 stale\)/);
    t.regex((await page.textContent(`#fleet-table tr[data-invoker="${victim.id}"]`)) ?? '', /stale.*no answer since/);
  } finally {
    process.kill(victim.pid, 'SIGCONT');
  }
  await page.locator(`#fleet-table tr[data-invoker="${victim.id}"][data-stale="false"]`).waitFor({ timeout: 20_000 });
  t.deepEqual(errors, []);
  await page.close();
});

test('operator page with API keys shows nothing without a key, refuses a wrong one, and goes live with the right one', async (t) => {
  const keyed = await startCluster({ invokers: 1, env: { HAYATE_API_KEYS: 'page-key-1,page-key-2' } });
  try {
    // the shell is served (a browser cannot send a Bearer header when it navigates), the data is not
    t.is((await fetch(`${keyed.http}/`)).status, 200);
    for (const path of ['/v1/live', '/v1/functions', '/v1/status']) {
      const res = await fetch(`${keyed.http}${path}`);
      t.is(res.status, 401, path);
      t.is(((await res.json()) as { error: { code: string } }).error.code, 'HAYATE_ERR_UNAUTHORIZED');
    }
    const page = await t.context.browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = consoleErrors(page, [/status of 401/]);
    await page.goto(`${keyed.http}/`);
    await page.locator('#key-dialog[open]').waitFor();
    await page.waitForTimeout(1500); // the page must not have shown data meanwhile
    t.is(await page.locator('#fleet-table tr[data-invoker]').count(), 0);
    t.is(await page.getAttribute('#conn', 'data-state'), 'locked');

    await page.fill('#key-input', 'wrong-key');
    await page.click('#key-form button[type="submit"]');
    await page.locator('#key-dialog[open]').waitFor();
    await page.locator('#key-message', { hasText: 'The key was refused' }).waitFor();
    t.is(await page.locator('#fleet-table tr[data-invoker]').count(), 0);

    await page.fill('#key-input', 'page-key-2');
    await page.click('#key-form button[type="submit"]');
    await waitLive(page);
    await page.locator(`#fleet-table tr[data-invoker="${keyed.invokers[0]!.id}"]`).waitFor();
    t.is(await page.evaluate(() => sessionStorage.getItem('hayate.apiKey')), 'page-key-2');
    t.deepEqual(errors, []);
    await page.close();
  } finally {
    await keyed.stop();
  }
});
