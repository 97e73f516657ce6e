/**
 * Debian's chromium driven by playwright-core, for the operator page's tests, screenshots and load bench.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

/** The browser binary (`apt-get install chromium`; scripts/setup.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';

/** Why no browser test can run here, or null when chromium is there. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no browser at ${CHROMIUM} (apt-get install -y chromium)`;
}

/** Headless chromium; --no-sandbox because tests run as root, where chromium's sandbox refuses to start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
}

/**
 * Collects what a page reports as errors: console errors and uncaught exceptions, each as a line.
 * @param expected console errors to let pass (e.g. the 401 of a key the test enters wrong on purpose)
 */
export function consoleErrors(page: Page, expected: RegExp[] = []): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = `${m.text()} (${m.location().url})`;
    if (!expected.some((re) => re.test(text))) errors.push(`console: ${text}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
