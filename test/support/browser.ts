import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BrowserContext, chromium, Locator, Page, Request } from 'playwright-core';

/** Debian's Chromium (.ci/run installs the package when it is missing). */
export const CHROMIUM = '/usr/bin/chromium';

/** No network but loopback here: nothing of Chromium's own phoning home (updates, sync, QUIC probes, GPU). */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Screenshots and console logs of failed browser tests (git-ignored). */
export const ARTIFACTS = join(__dirname, '..', 'artifacts');

/** A Chromium with a fresh profile directory, removed again by close(). */
export async function launchBrowser(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    acceptDownloads: true,
    viewport: { width: 1366, height: 768 },
    timeout: 30_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What one page did: its console and page errors, and every request it made. */
export interface PageRecord {
  console: string[];
  requests: Request[];
}

const fileName = (testName: string) => testName.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 100);

/**
 * Runs one browser test in a fresh tab (fresh sessionStorage). On failure the page's screenshot and console log are
 * written to test/artifacts/<test name>.{png,log} before the error is passed on.
 */
export async function withPage(context: BrowserContext, test: (page: Page, record: PageRecord) => Promise<void>): Promise<void> {
  const testName = expect.getState().currentTestName ?? 'browser-test';
  const page = await context.newPage();
  const record: PageRecord = { console: [], requests: [] };
  page.on('console', (m) => void record.console.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => void record.console.push(`[pageerror] ${e.message}`));
  page.on('request', (r) => void record.requests.push(r));
  try {
    await test(page, record);
    // The console runs under its strict CSP: a violation means something inline slipped in.
    expect(record.console.filter((line) => /Content Security Policy|pageerror/.test(line))).toEqual([]);
  } catch (error) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const base = join(ARTIFACTS, fileName(testName));
    await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => undefined);
    const requests = record.requests.map((r) => `${r.method()} ${r.url()}`);
    writeFileSync(`${base}.log`, [...record.console, '', '-- requests --', ...requests, '', String(error)].join('\n'));
    throw error;
  } finally {
    await page.close();
  }
}

/**
 * The text of `locator` once it matches `expected` (playwright-core has no auto-retrying assertions): polls, and on
 * timeout fails with the text it last saw.
 */
export async function textMatching(locator: Locator, expected: string | RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: string | null;
  for (;;) {
    last = (await locator.count()) ? await locator.first().innerText() : null;
    if (last !== null && (typeof expected === 'string' ? last === expected : expected.test(last))) return last;
    if (Date.now() > deadline) throw new Error(`${locator} never showed ${expected}; last text: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The id of the focused element (page scripts are strings: the tests' TypeScript has no DOM library). */
export const focusedId = (page: Page) => page.evaluate<string | null>('document.activeElement?.id ?? null');
