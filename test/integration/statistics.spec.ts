import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { dataSourceOf, startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

/** GET /v1/admin/statistics/referrals against a known data set inserted with exact timestamps. */
describe('partner statistics', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  const bankA = new BankClient(uniqueCode('STA'));
  const bankB = new BankClient(uniqueCode('STB'));
  const p1 = uniqueCode('P1');
  const p2 = uniqueCode('P2');
  const p3 = uniqueCode('P3');
  let offerSeq = 9_000_000 + Math.floor(Math.random() * 1_000_000) * 10;

  async function product(partnerCode: string, code: string) {
    const res = await inject(api, {
      method: 'POST',
      url: '/v1/admin/card-products',
      headers: adminHeaders(),
      payload: {
        code,
        partnerCode,
        name: code,
        criteria: [{ field: 'score', op: '>=', value: 600, reason: 'SCORE_TOO_LOW' }],
        sharedFields: ['creditRecord.score'],
        consentText: 'I agree that my credit score is shared with the bank.',
        purpose: 'credit card application decision',
      },
    });
    if (res.statusCode !== 201) throw new Error(res.body);
    const [row] = await db.query('SELECT id, partner_id FROM card_products WHERE code = ?', [code]);
    const consent = await db.query(
      `INSERT INTO consents (user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields, retention_days)
       VALUES ('stat-user', ?, ?, 1, 1, REPEAT('0', 64), 'test', '[]', 365)`,
      [row.partner_id, row.id],
    );
    return { partnerId: row.partner_id, productId: row.id, consentId: consent.insertId };
  }

  /** One referral created at `createdAt`, decided `decidedAfterSeconds` later (when given). */
  async function referral(
    p: { partnerId: string; productId: string; consentId: string },
    status: string,
    createdAt: string,
    decidedAfterSeconds?: number,
    breached = false,
  ) {
    await db.query(
      `INSERT INTO referrals (user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version, user_ref, status,
                              created_at, expires_at, decided_at, sla_breached_at)
       VALUES ('stat-user', ?, ?, 1, ?, ?, 1, 1, REPEAT('a', 43), ?, ?, ? + INTERVAL 72 HOUR,
               IF(? IS NULL, NULL, ? + INTERVAL ? * 1000000 MICROSECOND), IF(?, ? + INTERVAL 72 HOUR, NULL))`,
      [
        p.partnerId,
        p.productId,
        offerSeq++,
        p.consentId,
        status,
        createdAt,
        createdAt,
        decidedAfterSeconds ?? null,
        createdAt,
        decidedAfterSeconds ?? 0,
        breached,
        createdAt,
      ],
    );
  }

  const stats = (query: string, headers: Record<string, string> = adminHeaders()) =>
    inject(api, { method: 'GET', url: `/v1/admin/statistics/referrals${query}`, headers });
  const zero = {
    PACKAGING: 0,
    READY: 0,
    DELIVERED: 0,
    ACKNOWLEDGED: 0,
    PENDING_REVIEW: 0,
    APPROVED: 0,
    DECLINED: 0,
    WITHDRAWN: 0,
    EXPIRED: 0,
  };

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    await bankA.register(api);
    await bankB.register(api);
    const a1 = await product(bankA.code, p1);
    const a2 = await product(bankA.code, p2);
    const b3 = await product(bankB.code, p3);
    const t = '2030-01-01 10:00:00.000';
    // A/P1: decided after 100, 200, 400 (approved) and 1000 s (declined); three open or closed without a decision.
    await referral(a1, 'APPROVED', t, 100);
    await referral(a1, 'APPROVED', '2030-01-02 00:00:00.000', 400);
    await referral(a1, 'DECLINED', t, 1000);
    await referral(a1, 'APPROVED', t, 200);
    await referral(a1, 'READY', t);
    await referral(a1, 'EXPIRED', t, undefined, true);
    await referral(a1, 'PENDING_REVIEW', t, undefined, true);
    // A/P2: one decline after 60 s in the window, one approval before it.
    await referral(a2, 'DECLINED', t, 60);
    await referral(a2, 'APPROVED', '2029-12-31 23:59:59.999', 5);
    // B/P3: an approval after 10.5 s and a withdrawal.
    await referral(b3, 'APPROVED', t, 10.5);
    await referral(b3, 'WITHDRAWN', t);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('counts, approval rate, median and p90 time to decision and SLA breaches per partner and product', async () => {
    const res = await stats(`?partner=${bankA.code}&from=2030-01-01&to=2030-02-01T00:00:00Z`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      from: '2030-01-01T00:00:00.000Z',
      to: '2030-02-01T00:00:00.000Z',
      data: [p1, p2].sort().map((code) =>
        code === p1
          ? {
              partnerCode: bankA.code,
              productCode: p1,
              total: 7,
              byStatus: { ...zero, APPROVED: 3, DECLINED: 1, READY: 1, EXPIRED: 1, PENDING_REVIEW: 1 },
              approvalRate: 0.75,
              // [100, 200, 400, 1000]: median at position 2.5 = 300; p90 at position 3.7 = 400 + 0.7 × 600 = 820.
              timeToDecisionSeconds: { count: 4, median: 300, p90: 820 },
              slaBreaches: 2,
            }
          : {
              partnerCode: bankA.code,
              productCode: p2,
              total: 1,
              byStatus: { ...zero, DECLINED: 1 },
              approvalRate: 0,
              timeToDecisionSeconds: { count: 1, median: 60, p90: 60 },
              slaBreaches: 0,
            },
      ),
    });
  });

  it('filters by product and partner; without a window every referral counts', async () => {
    const p2All = (await stats(`?product=${p2}`)).json().data;
    expect(p2All).toHaveLength(1);
    expect(p2All[0]).toMatchObject({ total: 2, approvalRate: 0.5, timeToDecisionSeconds: { count: 2, median: 32.5, p90: 54.5 } });

    const b = (await stats(`?partner=${bankB.code}`)).json().data;
    expect(b).toEqual([
      {
        partnerCode: bankB.code,
        productCode: p3,
        total: 2,
        byStatus: { ...zero, APPROVED: 1, WITHDRAWN: 1 },
        approvalRate: 1,
        timeToDecisionSeconds: { count: 1, median: 10.5, p90: 10.5 },
        slaBreaches: 0,
      },
    ]);
    // A window with nothing decided: no rate, no times.
    const p1Late = (await stats(`?product=${p1}&from=2030-01-01T12:00:00Z`)).json().data;
    expect(p1Late).toEqual([
      expect.objectContaining({ total: 1, approvalRate: 1, timeToDecisionSeconds: { count: 1, median: 400, p90: 400 } }),
    ]);
    expect((await stats(`?partner=${bankB.code}&from=2031-01-01`)).json().data).toEqual([]);
  });

  it('refuses bad filters and non-operators', async () => {
    expect((await stats('?from=yesterday')).statusCode).toBe(400);
    expect((await stats('?from=2030-02-01&to=2030-01-01')).statusCode).toBe(400);
    expect((await stats('?partner=lower%20case')).statusCode).toBe(400);
    expect((await stats('?unknown=1')).statusCode).toBe(400);
    expect((await stats('', { authorization: `Bearer ${platformToken(['compliance'])}` })).statusCode).toBe(403);
    expect((await stats('', {})).statusCode).toBe(401);
  });
});
