import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BrowserContext, Page, Request } from 'playwright-core';
import { DataSource } from 'typeorm';

import { AuditRepository } from '../../src/modules/audit/audit.repository';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { AuditEntryInput } from '../../src/modules/audit/audit-entry';
import { CONSOLE_CSP } from '../../src/modules/compliance/console-assets';
import { eventually, startHttpApp } from '../support/app';
import { focusedId, launchBrowser, textMatching, withPage } from '../support/browser';
import { inject, platformToken, uniqueCode } from '../support/partner-client';

/**
 * The compliance console in Debian's Chromium against a real api process on a real socket: sign-in, search and paging,
 * a user's timeline, chain verification, exports, and no API call at all without a token.
 */
jest.setTimeout(120_000);

/** What a DBA with full rights can do: switch the append-only triggers off and on (as compliance-api.spec.ts). */
async function withoutTriggers(db: DataSource, work: () => Promise<unknown>) {
  for (const op of ['update', 'delete']) await db.query(`DROP TRIGGER IF EXISTS audit_events_no_${op}`);
  try {
    await work();
  } finally {
    for (const op of ['UPDATE', 'DELETE']) {
      await db.query(
        `CREATE TRIGGER audit_events_no_${op.toLowerCase()} BEFORE ${op} ON audit_events FOR EACH ROW
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only'`,
      );
    }
  }
}

const apiCalls = (requests: Request[]) => requests.filter((r) => new URL(r.url()).pathname.startsWith('/v1/'));

describe('compliance console (browser)', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let base: string;
  let context: BrowserContext;
  let closeBrowser: () => Promise<void>;
  const officer = `officer-${randomUUID().slice(0, 8)}`;
  const token = platformToken(['compliance'], officer);
  const authorization = `Bearer ${token}`;

  // The seeded trail: 30 calls of one partner (two pages of 25), three of them DENIED, about one user.
  const partner = uniqueCode('CUI');
  const userId = `u_cui_${randomUUID().slice(0, 8)}`;
  let seqs: number[];

  const chainAll = (chainer: AuditChainer, repository: AuditRepository) =>
    eventually(async () => {
      await chainer.drain();
      return (await repository.inboxSize()) === 0;
    }, 30_000);
  let chain: () => Promise<unknown>;

  beforeAll(async () => {
    api = await startHttpApp('api');
    await api.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
    db = api.get(DataSource);
    const writer = api.get(AuditWriter);
    const userHash = writer.subjectHash(userId);
    const entries: AuditEntryInput[] = Array.from({ length: 30 }, (_, i) => ({
      actorType: 'partner',
      actorId: partner,
      partnerCode: partner,
      action: 'cui_spec.call',
      subjectUserHash: userHash,
      outcome: i % 10 === 3 ? 'DENIED' : 'SUCCESS',
      httpStatus: i % 10 === 3 ? 403 : 200,
      details: { i, note: 'a, "quoted" note — 中文' },
    }));
    await writer.appendMany(entries);
    chain = () => chainAll(api.get(AuditChainer), api.get(AuditRepository));
    await chain();
    const rows: { seq: string }[] = await db.query('SELECT seq FROM audit_events WHERE partner_code = ? ORDER BY seq', [partner]);
    seqs = rows.map((r) => Number(r.seq));
    expect(seqs).toHaveLength(30);
    ({ context, close: closeBrowser } = await launchBrowser());
  });

  afterAll(async () => {
    await closeBrowser?.();
    await api?.close();
  });

  /** Opens the console and signs in by pasting the token, as an officer would. */
  async function signIn(page: Page, withToken = token) {
    await page.goto(`${base}/console`);
    await page.getByLabel('Compliance token').fill(withToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  const rowSeqs = (page: Page) =>
    page.locator('#events tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));

  it('a page load without a token shows only the sign-in form and calls no API; the page has its strict CSP', async () => {
    await withPage(context, async (page, record) => {
      const document = await page.goto(`${base}/console`);
      expect(page.url()).toBe(`${base}/console/`);
      expect(document?.headers()['content-security-policy']).toBe(CONSOLE_CSP);
      expect(CONSOLE_CSP).not.toContain('unsafe-inline');
      expect(await focusedId(page)).toBe('token');
      expect(await page.locator('#console').isHidden()).toBe(true);
      expect(await page.locator('#session').isHidden()).toBe(true);
      // Give a stray call every chance to happen before counting.
      await page.waitForLoadState('networkidle');
      expect(record.requests.map((r) => new URL(r.url()).pathname).sort()).toEqual(
        [
          '/console',
          '/console/',
          '/console/api.js',
          '/console/app.js',
          '/console/console.css',
          '/console/dom.js',
          '/console/favicon.svg',
          '/console/events.js',
          '/console/session.js',
          '/console/timeline.js',
        ].sort(),
      );
      // A token without the compliance role, or an expired one, is refused by the page itself: still no call.
      await page.getByLabel('Compliance token').fill(platformToken(['admin']));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await textMatching(page.locator('#sign-in-error'), 'This token does not carry the compliance role.');
      await page.getByLabel('Compliance token').fill('not.a.token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await textMatching(page.locator('#sign-in-error'), 'The token cannot be read.');
      await page.waitForLoadState('networkidle');
      expect(apiCalls(record.requests)).toEqual([]);
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    });
  });
});
