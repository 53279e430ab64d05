import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { dataSourceOf, startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

/**
 * GET /v1/admin/statistics/overdue against known notices and records inserted with exact dates (2025, far from the
 * dates the scanning specs use, and nothing a scan reads: no cardholders or accounts).
 */
describe('overdue statistics', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  const bank = new BankClient(uniqueCode('OSA'));
  const other = new BankClient(uniqueCode('OSB'));
  let referralSeq = 8_000_000_000 + Math.floor(Math.random() * 1_000_000) * 100;

  const stats = (query: string, headers = adminHeaders()) =>
    inject(api, { method: 'GET', url: `/v1/admin/statistics/overdue${query}`, headers });

  /** A notice of `partnerId` and, for each record given, its record (status and report date). */
  async function notice(
    partnerId: string,
    noticeDate: string,
    outcome: { status: 'PENDING' | 'SHARED' | 'CANCELLED'; reason?: 'REPAID' | 'CONSENT_REVOKED'; resolvedOn?: string },
    records: Array<[status: 'NEW' | 'UPDATED' | 'CURED', reportDate: string]> = [],
  ) {
    const referralId = referralSeq++;
    const pending = outcome.status === 'PENDING' ? 1 : null;
    const inserted = await db.query(
      `INSERT INTO overdue_notices (referral_id, partner_id, user_id, dpd, overdue_amount, state_as_of, notice_date, share_on, status,
                                    pending_key, cancel_reason, scan_id, resolved_on, sent_at)
       VALUES (?, ?, ?, 31, 100.00, ?, ?, ? + INTERVAL 7 DAY, ?, ?, ?, 0, ?, NOW(3))`,
      [
        referralId,
        partnerId,
        `ost-${referralId}`,
        noticeDate,
        noticeDate,
        noticeDate,
        outcome.status,
        pending,
        outcome.reason ?? null,
        outcome.resolvedOn ?? null,
      ],
    );
    for (const [i, [status, reportDate]] of records.entries()) {
      await db.query(
        `INSERT INTO overdue_records (partner_id, referral_id, user_id, user_ref, seq, status, dpd, dpd_bucket, account_status, overdue_amount,
                                     overdue_since, state_as_of, notice_id, notice_sent_at, report_date, scan_id)
         VALUES (?, ?, ?, REPEAT('a', 43), ?, ?, ?, ?, ?, 100.00, ?, ?, ?, NOW(3), ?, 0)`,
        [
          partnerId,
          referralId,
          `ost-${referralId}`,
          i + 1,
          status,
          status === 'CURED' ? 0 : 35,
          status === 'CURED' ? null : '30-59',
          status === 'CURED' ? '11' : '71',
          noticeDate,
          reportDate,
          inserted.insertId,
          reportDate,
        ],
      );
    }
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    await bank.register(api);
    await other.register(api);
    const [{ id: p }] = await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]);
    const [{ id: q }] = await db.query('SELECT id FROM partners WHERE code = ?', [other.code]);

    // March 2025: six notices.
    await notice(p, '2025-03-02', { status: 'CANCELLED', reason: 'REPAID', resolvedOn: '2025-03-05' }); // 3 days
    await notice(p, '2025-03-10', { status: 'CANCELLED', reason: 'REPAID', resolvedOn: '2025-03-11' }); // 1 day
    await notice(p, '2025-03-12', { status: 'SHARED', resolvedOn: '2025-03-19' }, [
      ['NEW', '2025-03-19'],
      ['UPDATED', '2025-03-25'],
      ['CURED', '2025-04-02'], // cured in April: still March's notice, 21 days
    ]);
    await notice(p, '2025-03-20', { status: 'SHARED', resolvedOn: '2025-03-27' }, [['NEW', '2025-03-27']]); // not cured
    await notice(p, '2025-03-28', { status: 'CANCELLED', reason: 'CONSENT_REVOKED', resolvedOn: '2025-03-29' });
    await notice(p, '2025-03-30', { status: 'PENDING' });
    // April 2025: two notices, both repaid during the notice period.
    await notice(p, '2025-04-03', { status: 'CANCELLED', reason: 'REPAID', resolvedOn: '2025-04-07' }); // 4 days
    await notice(p, '2025-04-15', { status: 'CANCELLED', reason: 'REPAID', resolvedOn: '2025-04-17' }); // 2 days
    // Another partner: one pending notice in March.
    await notice(q, '2025-03-15', { status: 'PENDING' });
  });

  afterAll(async () => {
    await api?.close();
  });

  const march = (partnerCode: string) => ({
    partnerCode,
    month: '2025-03',
    noticesSent: 6,
    noticesPending: 1,
    noticesCancelledByRepayment: 2,
    repaidBeforeSharingShare: 0.3333,
    noticesCancelledByConsentRevocation: 1,
    recordsShared: 2,
    cured: 1,
    daysNoticeToRepayment: { count: 3, median: 3 },
  });
  const april = (partnerCode: string) => ({
    partnerCode,
    month: '2025-04',
    noticesSent: 2,
    noticesPending: 0,
    noticesCancelledByRepayment: 2,
    repaidBeforeSharingShare: 1,
    noticesCancelledByConsentRevocation: 0,
    recordsShared: 0,
    cured: 0,
    daysNoticeToRepayment: { count: 2, median: 3 },
  });

  it('counts per partner and notice month: notices, repaid before sharing and its share, shared, cured, median days to repayment', async () => {
    const res = await stats(`?partner=${bank.code}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ from: null, to: null, data: [march(bank.code), april(bank.code)] });
  });

  it('filters by notice months (both ends included) and lists every partner without a partner filter', async () => {
    expect((await stats(`?partner=${bank.code}&from=2025-04&to=2025-04`)).json()).toEqual({
      from: '2025-04',
      to: '2025-04',
      data: [april(bank.code)],
    });
    const all = (await stats('?from=2025-03&to=2025-03')).json().data;
    expect(all).toEqual(expect.arrayContaining([march(bank.code), expect.objectContaining({ partnerCode: other.code, noticesSent: 1 })]));
    expect(all.find((r: { partnerCode: string }) => r.partnerCode === other.code)).toEqual({
      partnerCode: other.code,
      month: '2025-03',
      noticesSent: 1,
      noticesPending: 1,
      noticesCancelledByRepayment: 0,
      repaidBeforeSharingShare: 0,
      noticesCancelledByConsentRevocation: 0,
      recordsShared: 0,
      cured: 0,
      daysNoticeToRepayment: null,
    });
    expect((await stats(`?partner=${bank.code}&from=2025-05`)).json().data).toEqual([]);
  });

  it('refuses bad months, from after to, unknown parameters and non-operators', async () => {
    for (const query of ['?from=2025-13', '?to=2025-3', '?from=2025-04&to=2025-03', '?month=2025-03', '?partner=bad code']) {
      const res = await stats(query);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    expect((await stats('', { authorization: `Bearer ${platformToken(['platform'])}` })).statusCode).toBe(403);
  });
});
