import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BrowserContext, Page, Request } from 'playwright-core';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { AuditRepository } from '../../src/modules/audit/audit.repository';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { AuditEntryInput } from '../../src/modules/audit/audit-entry';
import { CONSOLE_CSP } from '../../src/modules/compliance/console-assets';
import { CreditRecordsService } from '../../src/modules/credit-records/credit-records.service';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { eventually, startHttpApp } from '../support/app';
import { withoutAuditTriggers } from '../support/audit-triggers';
import { focusedId, launchBrowser, textMatching, withPage } from '../support/browser';
import { BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { applyAfterPrescreen, createProduct, userIds } from '../support/referral-flow';

/**
 * The compliance console in Debian's Chromium against a real api process on a real socket: sign-in, search and paging,
 * a user's timeline, chain verification, exports, and no API call at all without a token.
 */
jest.setTimeout(120_000);

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
    page.locator('#events tbody tr[data-seq]').evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));

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
      expect(await page.evaluate('sessionStorage.length')).toBe(0);
    });
  });
  it('signs in from #token=… (removed from the URL at once), keeps the token in sessionStorage only, and signs out', async () => {
    await withPage(context, async (page, record) => {
      await page.goto(`${base}/console#token=${token}`);
      await textMatching(page.locator('#officer'), `Signed in as ${officer}`);
      expect(page.url()).toBe(`${base}/console/`);
      expect(await page.evaluate('location.hash')).toBe('');
      expect(await page.evaluate('Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k))')).toEqual([token]);
      expect(await page.evaluate('localStorage.length')).toBe(0);
      expect(await context.cookies()).toEqual([]);
      // Signed in, the console still waits for the officer: no read happens (each read is audited) until asked for.
      expect(await focusedId(page)).toBe('f-actorType');
      // A reload of the tab keeps the session; sign-out forgets the token and hides everything.
      await page.reload();
      await textMatching(page.locator('#officer'), `Signed in as ${officer}`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      expect(await page.locator('#console').isHidden()).toBe(true);
      expect(await page.evaluate('sessionStorage.length')).toBe(0);
      expect(await focusedId(page)).toBe('token');
      expect(record.requests.filter((r) => r.url().includes(token))).toEqual([]);
      expect(apiCalls(record.requests)).toEqual([]);
    });
  });

  it('searches with a filter and pages with next and previous, the token in the Authorization header only', async () => {
    await withPage(context, async (page, record) => {
      await signIn(page);
      await page.getByLabel('Partner').fill(partner);
      await page.getByLabel('Per page').selectOption('25');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await textMatching(page.locator('#events caption'), `Page 1: 25 events, seq ${seqs[0]}–${seqs[24]}`);
      expect(await rowSeqs(page)).toEqual(seqs.slice(0, 25));
      expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);

      await page.getByRole('button', { name: 'Next page' }).click();
      await textMatching(page.locator('#events caption'), `Page 2: 5 events, seq ${seqs[25]}–${seqs[29]}`);
      expect(await rowSeqs(page)).toEqual(seqs.slice(25));
      expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
      // The disabled Next button cannot keep the focus: it moves to the results.
      expect(await focusedId(page)).toBe('events-caption');

      await page.getByRole('button', { name: 'Previous page' }).click();
      await textMatching(page.locator('#events caption'), `Page 1: 25 events, seq ${seqs[0]}–${seqs[24]}`);
      expect(await rowSeqs(page)).toEqual(seqs.slice(0, 25));

      // A second filter narrows it; the rows are what the API answers for the same query.
      await page.getByLabel('Outcome').selectOption('DENIED');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await textMatching(page.locator('#events caption'), /^Page 1: 3 events/);
      const viaApi = await inject(api, {
        method: 'GET',
        url: `/v1/compliance/audit-events?partner=${partner}&outcome=DENIED`,
        headers: { authorization },
      });
      expect(await rowSeqs(page)).toEqual(viaApi.json().data.map((e: { seq: number }) => e.seq));
      expect(await page.locator('#events tbody tr td.outcome').allInnerTexts()).toEqual(['DENIED 403', 'DENIED 403', 'DENIED 403']);

      const calls = apiCalls(record.requests);
      expect(calls).toHaveLength(4);
      for (const call of calls) {
        expect(call.url()).not.toContain(token);
        expect(await call.allHeaders()).toMatchObject({ authorization });
      }
      expect(new URL(calls[1].url()).searchParams.get('cursor')).toEqual(expect.any(String));
      expect(new URL(calls[2].url()).searchParams.has('cursor')).toBe(false);
    });
  });

  it('is usable with the keyboard alone, and shows a refused filter with the problem detail', async () => {
    await withPage(context, async (page) => {
      await page.goto(`${base}/console`);
      await page.keyboard.insertText(token);
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Sign in');
      await page.keyboard.press('Enter');
      await textMatching(page.locator('#officer'), `Signed in as ${officer}`);
      // Focus is on the first filter (actor type); Tab walks the filters in reading order.
      await page.keyboard.press('Tab'); // actor id
      await page.keyboard.press('Tab'); // partner
      await page.keyboard.insertText(partner);
      await page.keyboard.press('Enter');
      await textMatching(page.locator('#events caption'), `Page 1: 30 events, seq ${seqs[0]}–${seqs[29]}`);

      await page.getByLabel('From (inclusive)').focus();
      await page.keyboard.insertText('yesterday');
      await page.keyboard.press('Enter');
      const shown = await textMatching(page.locator('#search-error'), /HTTP 400/);
      expect(shown).toContain('from:');
      expect(shown).toMatch(/Request id: \S+/);
    });
  });

  it('Verify now: a clean chain is intact; a row altered in SQL is named by its seq, as the API names it', async () => {
    await withPage(context, async (page) => {
      await signIn(page);
      await chain();
      await page.getByRole('button', { name: 'Verify now' }).click();
      await textMatching(page.locator('#chain-status'), /^Chain intact: seq 1–\d+ recomputed, \d+ signed checkpoints? verified/);

      const k = seqs[7];
      const [original] = await db.query('SELECT outcome FROM audit_events WHERE seq = ?', [k]);
      await withoutAuditTriggers(db, () => db.query(`UPDATE audit_events SET outcome = 'FAILURE' WHERE seq = ?`, [k]));
      try {
        await page.getByRole('button', { name: 'Verify now' }).click();
        const shown = await textMatching(page.locator('#chain-status'), /^Chain broken/);
        expect(shown).toMatch(new RegExp(`^Chain broken at seq ${k}: entry altered\\. Intact before it: seq 1–${k - 1},`));
        const viaApi = await inject(api, { method: 'GET', url: '/v1/compliance/audit/verify', headers: { authorization } });
        expect(viaApi.json()).toMatchObject({ ok: false, firstBrokenSeq: k, reason: 'entry altered' });
      } finally {
        await withoutAuditTriggers(db, () => db.query('UPDATE audit_events SET outcome = ? WHERE seq = ?', [original.outcome, k]));
      }
      await page.getByRole('button', { name: 'Verify now' }).click();
      await textMatching(page.locator('#chain-status'), /^Chain intact/);
    });
  });

  it('downloads exports (CSV and NDJSON) fetched with the Authorization header, equal to the API export', async () => {
    await withPage(context, async (page, record) => {
      await signIn(page);
      await page.getByLabel('Partner').fill(partner);
      for (const format of ['csv', 'ndjson'] as const) {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('button', { name: `Export ${format.toUpperCase()}` }).click(),
        ]);
        expect(download.suggestedFilename()).toMatch(new RegExp(`\\.${format}$`));
        const saved = readFileSync((await download.path())!, 'utf8');
        const viaApi = await inject(api, {
          method: 'GET',
          url: `/v1/compliance/audit-events/export?format=${format}&partner=${partner}`,
          headers: { authorization },
        });
        expect(saved).toBe(viaApi.body);
        const lines = saved.split(format === 'csv' ? '\r\n' : '\n').filter(Boolean);
        expect(lines.length).toBeGreaterThanOrEqual(format === 'csv' ? 31 : 30);
        await textMatching(page.locator('#search-status'), new RegExp(`^Downloaded \\S+\\.${format} \\([\\d,]+ bytes\\)\\.$`));
      }
      const exports = apiCalls(record.requests);
      expect(exports.map((r) => new URL(r.url()).pathname)).toEqual([
        '/v1/compliance/audit-events/export',
        '/v1/compliance/audit-events/export',
      ]);
      for (const call of exports) {
        expect(call.url()).not.toContain(token);
        expect(await call.allHeaders()).toMatchObject({ authorization });
      }
    });
  });
  it("opens a user's timeline: an unknown user is a clear 404 state", async () => {
    await withPage(context, async (page, record) => {
      await signIn(page);
      await page.locator('#timeline-user').fill(userId);
      await page.getByRole('button', { name: 'Open timeline' }).click();
      const shown = await textMatching(page.locator('#timeline-error'), /HTTP 404/);
      expect(shown).toMatch(new RegExp(`^No timeline is available for “${userId}”\\.\\nNot found \\(HTTP 404\\)\\n.+\\nRequest id: \\S+$`));
      expect(await page.locator('#timeline-view').isHidden()).toBe(true);
      const [call] = apiCalls(record.requests);
      expect(new URL(call.url()).pathname).toBe(`/v1/compliance/users/${userId}/timeline`);
      expect(await call.allHeaders()).toMatchObject({ authorization });
    });
  });

  /**
   * A real applicant, seeded through the owning modules (credit record, pre-screen, consent and application, packaging,
   * the bank's fetch: a disclosure), so the console renders GET …/timeline's own answer. The console asks for the API's
   * default page (100 entries), more than one referral makes; to see it page with the API's cursors, the browser adds
   * `limit=3` to each timeline request and lets it through to the gateway — the answers stay the gateway's.
   */
  it("renders a seeded user's timeline as the API answers it, pages it with its cursor, and removes the personal data on close and sign-out", async () => {
    const bank = new BankClient(uniqueCode('CUIT'));
    const [applicant] = userIds(1);
    await bank.register(api);
    const productCode = await createProduct(api, bank.code, ['creditRecord.score']);
    const [ref] = await applyAfterPrescreen(api, [applicant], productCode);
    await api.get(ReferralPackagingProcessor).package({ referralId: keyOf('ref', ref)!, correlationId: 'cui-spec' });
    const fetched = await inject(api, {
      method: 'GET',
      url: `/partner/v1/referrals/${ref}`,
      headers: { authorization: `Bearer ${await bank.accessToken(api)}` },
    });
    expect(fetched.statusCode).toBe(200);
    await chain();
    const identity = (await api.get(CreditRecordsService).currentRecord(applicant))!.identity;
    const last4 = identity.nationalId.slice(-4);
    // The whole timeline from the API in one page, to compare the console's pages with.
    const whole = await inject(api, {
      method: 'GET',
      url: `/v1/compliance/users/${applicant}/timeline?limit=500`,
      headers: { authorization },
    });
    expect(whole.statusCode).toBe(200);
    const expected = (
      whole.json().data as Array<{ at: string; kind: string; partner?: string; referralId?: string; summary: string; auditSeq?: number }>
    ).map((e) =>
      [
        [`${e.at.replace('T', ' ').replace('Z', '')} UTC`, e.kind, e.partner, e.referralId && `referral ${e.referralId}`]
          .concat(e.auditSeq !== undefined ? [`audit seq ${e.auditSeq}`] : [])
          .filter(Boolean)
          .join(' · '),
        e.summary,
      ].join('\n'),
    );
    expect(expected.length).toBeGreaterThan(3);
    expect(expected.some((e) => / · disclosure · /.test(e))).toBe(true);

    await withPage(context, async (page, record) => {
      await page.route('**/v1/compliance/users/*/timeline*', (route) => {
        const url = new URL(route.request().url());
        url.searchParams.set('limit', '3');
        return route.continue({ url: url.toString() });
      });
      await signIn(page);
      await page.locator('#timeline-user').fill(applicant);
      await page.locator('#timeline-user').press('Enter');
      // The name, decrypted by the gateway for this answer only, shown as text.
      await textMatching(page.locator('#timeline-user-title'), `${identity.name} · ${applicant} · national id …${last4}`);
      expect(await focusedId(page)).toBe('timeline-user-title');
      expect(await page.locator('#timeline-entries li').allInnerTexts()).toEqual(expected.slice(0, 3));
      for (let shown = 3; shown < expected.length; shown += 3) {
        await page.getByRole('button', { name: 'More' }).click();
        await eventually(async () => (await page.locator('#timeline-entries li').count()) === Math.min(shown + 3, expected.length));
      }
      expect(await page.locator('#timeline-entries li').allInnerTexts()).toEqual(expected);
      expect(await page.getByRole('button', { name: 'More' }).isHidden()).toBe(true);
      // Every page came from the gateway: the first without a cursor, each next one with the cursor the last answered.
      const calls = apiCalls(record.requests).map((r) => new URL(r.url()));
      expect(calls).toHaveLength(Math.ceil(expected.length / 3));
      expect(calls.every((u) => u.pathname === `/v1/compliance/users/${applicant}/timeline`)).toBe(true);
      expect(calls[0].searchParams.get('cursor')).toBeNull();
      expect(calls.slice(1).every((u) => u.searchParams.get('cursor'))).toBe(true);

      await page.getByRole('button', { name: 'Close timeline' }).click();
      expect(await page.content()).not.toContain(identity.name);
      expect(await focusedId(page)).toBe('timeline-user');
      await page.locator('#timeline-user').press('Enter');
      await textMatching(page.locator('#timeline-user-title'), new RegExp(`^${identity.name}`));
      await page.getByRole('button', { name: 'Sign out' }).click();
      expect(await page.content()).not.toContain(identity.name);
      expect(await page.content()).not.toContain(`…${last4}`);
    });
  });
});
