import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { dataSourceOf, startHttpApp, startWorker } from '../support/app';
import { adminHeaders, BankClient, inject, uniqueCode } from '../support/partner-client';
import { applyAfterPrescreen, createProduct, prescreen, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Banks' delinquency reports (POST /partner/v1/delinquencies) through the HTTP API on real MariaDB and Redis: only the
 * partner's own APPROVED referrals, validated values, idempotent repeats backed by a unique key, per-line answers in
 * bulk, audit entries, and the PARTNER_DELINQUENCY exclusion by the product's delinquencyScope.
 */
jest.setTimeout(180_000);

type Line = { line: number; referralId: string | null; status: number; problem?: { status: number; instance: string; type: string } };

describe('delinquencies', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let other: BankClient;
  let token: string;
  let otherToken: string;
  // 0, 1, 4, 5, 6 APPROVED; 2 DECLINED; 3 DELIVERED (fetched, not decided).
  const users = userIds(7);
  const refs: string[] = [];
  const key = (publicId: string) => keyOf('ref', publicId)!;
  const day = (offsetDays = 0) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
  const auth = (t = token) => ({ authorization: `Bearer ${t}` });
  const report = (payload: object, t = token) =>
    inject(api, { method: 'POST', url: '/partner/v1/delinquencies', headers: auth(t), payload });
  const bulk = (lines: string[], t = token) =>
    inject(api, {
      method: 'POST',
      url: '/partner/v1/delinquencies',
      headers: { ...auth(t), 'content-type': 'application/x-ndjson' },
      payload: lines.join('\n') + '\n',
    });
  const rowsOf = (ref: string) =>
    db.query('SELECT id, partner_id, user_id, referral_id, dpd, amount_overdue, as_of FROM partner_delinquencies WHERE referral_id = ?', [
      key(ref),
    ]);
  const audited = async (action: string, resourceId: string) => [
    ...(await db.query('SELECT * FROM audit_inbox WHERE action = ? AND resource_id = ?', [action, resourceId])),
    ...(await db.query('SELECT * FROM audit_events WHERE action = ? AND resource_id = ?', [action, resourceId])),
  ];
  const decide = async (ref: string, decision: 'APPROVED' | 'DECLINED') => {
    const res = await inject(api, {
      method: 'POST',
      url: `/partner/v1/referrals/${ref}/decision`,
      headers: auth(),
      payload: { decision, decidedAt: new Date().toISOString() },
    });
    if (res.statusCode !== 200) throw new Error(`decision: ${res.statusCode} ${res.body}`);
  };

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('DQ'));
    other = new BankClient(uniqueCode('DQO'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    await registerPartner(api, other.code, { keys: [other.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name', 'creditRecord.score']);
    refs.push(...(await applyAfterPrescreen(api, users, productCode)));
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
    for (const [i, ref] of refs.entries()) {
      await api.get(ReferralPackagingProcessor).package({ referralId: key(ref), correlationId: 'test' });
      expect((await inject(api, { method: 'GET', url: `/partner/v1/referrals/${ref}`, headers: auth() })).statusCode).toBe(200);
      if (i === 2) await decide(ref, 'DECLINED');
      else if (i !== 3) await decide(ref, 'APPROVED');
    }
  });

  afterAll(async () => {
    await api?.close();
  });

  it('stores and audits a report (201); the same report again answers the same with one row; another dpd is a new record', async () => {
    const body = { referralId: refs[0], dpd: 45, amountOverdue: '1234.50', asOf: day() };
    const res = await report(body);
    expect(res.statusCode).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const view = res.json();
    expect(view).toEqual({ id: expect.stringMatching(/^dlq_/), ...body, createdAt: expect.any(String) });
    expect(new Date(view.createdAt).toISOString()).toBe(view.createdAt);

    const [partner] = await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]);
    const rows = await rowsOf(refs[0]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      partner_id: partner.id,
      user_id: users[0],
      referral_id: key(refs[0]),
      dpd: 45,
      amount_overdue: '1234.50',
    });
    expect(keyOf('dlq', view.id)).toBe(String(rows[0].id));

    const entries = await audited('delinquency.reported', view.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor_type: 'partner',
      actor_id: bank.code,
      partner_code: bank.code,
      resource_type: 'delinquency',
      subject_user_hash: api.get(AuditWriter).subjectHash(users[0]),
      outcome: 'SUCCESS',
      http_status: 201,
    });
    // No PII: the user appears only as the keyed hash.
    expect(JSON.stringify(entries[0])).not.toContain(users[0]);

    const again = await report(body);
    expect(again.statusCode).toBe(201);
    expect(again.body).toBe(res.body);
    expect(await rowsOf(refs[0])).toHaveLength(1);
    expect(await audited('delinquency.reported', view.id)).toHaveLength(1);

    // A different report for the same referral and date (the bank's correction) is a record of its own.
    const corrected = await report({ ...body, dpd: 46 });
    expect(corrected.statusCode).toBe(201);
    expect(corrected.json().id).not.toBe(view.id);
    expect(await rowsOf(refs[0])).toHaveLength(2);
  });

  it('lets 20 concurrent copies of one new report store exactly one row, every copy answered with its id', async () => {
    const body = { referralId: refs[1], dpd: 31, amountOverdue: '99.99', asOf: day() };
    const answers = await Promise.all(Array.from({ length: 20 }, () => report(body)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(201));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    expect(await rowsOf(refs[1])).toHaveLength(1);
    expect(await audited('delinquency.reported', answers[0].json().id)).toHaveLength(1);
  });

  it("answers another partner's referral 404 exactly like a missing one, audits the attempt and stores nothing", async () => {
    const before = await rowsOf(refs[4]);
    const foreign = await report({ referralId: refs[4], dpd: 60, amountOverdue: '10.00', asOf: day() }, otherToken);
    const missing = await report({ referralId: 'ref_999999999', dpd: 60, amountOverdue: '10.00', asOf: day() }, otherToken);
    expect([foreign.statusCode, missing.statusCode]).toEqual([404, 404]);
    expect(foreign.headers['content-type']).toMatch(/^application\/problem\+json/);
    const strip = (b: { instance?: string }) => ({ ...b, instance: undefined });
    expect(strip(foreign.json())).toEqual(strip(missing.json()));
    expect(await rowsOf(refs[4])).toEqual(before);
    const denied = await audited('referral.access.denied', refs[4]);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ actor_id: other.code, partner_code: other.code, outcome: 'DENIED', http_status: 404 });
  });

  it('answers a referral that is not APPROVED, and ids it never issued, 404 and stores nothing', async () => {
    for (const referralId of [refs[2], refs[3], 'ref_0', 'ofr_1', 'nonsense']) {
      const res = await report({ referralId, dpd: 60, amountOverdue: '10.00', asOf: day() });
      expect([referralId, res.statusCode]).toEqual([referralId, 404]);
      expect(res.json().type).toBe('https://errors.referral-gateway.dev/not-found');
    }
    expect([...(await rowsOf(refs[2])), ...(await rowsOf(refs[3]))]).toEqual([]);
    // Its own referrals are no probing.
    expect(await audited('referral.access.denied', refs[2])).toEqual([]);
  });

  it('refuses bad values with 400 naming the field, and stores nothing', async () => {
    const [{ decision }] = await db.query('SELECT decision FROM referrals WHERE id = ?', [key(refs[6])]);
    const decidedAt = (typeof decision === 'string' ? JSON.parse(decision) : decision).decidedAt as string;
    const dayBefore = new Date(Date.parse(decidedAt) - 86_400_000).toISOString().slice(0, 10);
    const good = { referralId: refs[6], dpd: 30, amountOverdue: '500.00', asOf: day() };
    const cases: [object, string][] = [
      [{ ...good, dpd: 0 }, 'dpd'],
      [{ ...good, dpd: 3651 }, 'dpd'],
      [{ ...good, dpd: 1.5 }, 'dpd'],
      [{ ...good, dpd: '30' }, 'dpd'],
      [{ ...good, dpd: undefined }, 'dpd'],
      [{ ...good, amountOverdue: '0.00' }, 'amountOverdue'],
      [{ ...good, amountOverdue: '-1.00' }, 'amountOverdue'],
      [{ ...good, amountOverdue: '12.5' }, 'amountOverdue'],
      [{ ...good, amountOverdue: 12.5 }, 'amountOverdue'],
      [{ ...good, amountOverdue: '1e3' }, 'amountOverdue'],
      [{ ...good, asOf: day(2) }, 'asOf'],
      [{ ...good, asOf: '2026-02-30' }, 'asOf'],
      [{ ...good, asOf: '2026/01/01' }, 'asOf'],
      [{ ...good, asOf: `${day()}T00:00:00Z` }, 'asOf'],
      [{ ...good, asOf: dayBefore }, 'asOf'],
      [{ ...good, userId: users[6] }, 'userId'],
      [{ ...good, referralId: 42 }, 'referralId'],
    ];
    for (const [body, field] of cases) {
      const r = await report(body);
      expect([JSON.stringify(body), r.statusCode]).toEqual([JSON.stringify(body), 400]);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await rowsOf(refs[6])).toEqual([]);
  });

  it('needs delinquency:write (403) and stores nothing without it', async () => {
    const readOnly = await bank.accessToken(api, 'referrals:read referrals:decide');
    const body = { referralId: refs[6], dpd: 30, amountOverdue: '500.00', asOf: day() };
    expect((await report(body, readOnly)).statusCode).toBe(403);
    expect((await bulk([JSON.stringify(body)], readOnly)).statusCode).toBe(403);
    expect(await rowsOf(refs[6])).toEqual([]);
  });

  it('answers every NDJSON line on its own, with the status it would have had alone', async () => {
    const good = { referralId: refs[4], dpd: 90, amountOverdue: '3000.00', asOf: day() };
    const lines = [
      JSON.stringify(good),
      JSON.stringify(good),
      '{not json',
      JSON.stringify({ ...good, referralId: refs[2] }),
      JSON.stringify({ ...good, dpd: 0 }),
      '',
      JSON.stringify({ ...good, color: 'red' }),
      JSON.stringify({ referralId: refs[6], dpd: 5, amountOverdue: '12.00', asOf: day() }),
      JSON.stringify({ ...good, referralId: 'ref_999999999' }),
      JSON.stringify({ ...good, asOf: day(3) }),
    ];
    const res = await bulk(lines);
    expect(res.statusCode).toBe(200);
    const results = res.json().results as Line[];
    expect(results.map((r) => [r.line, r.referralId, r.status])).toEqual([
      [1, refs[4], 201],
      [2, refs[4], 201],
      [3, null, 400],
      [4, refs[2], 404],
      [5, refs[4], 400],
      [7, refs[4], 400],
      [8, refs[6], 201],
      [9, 'ref_999999999', 404],
      [10, refs[4], 400],
    ]);
    for (const r of results) {
      if (r.status < 400) expect(r.problem).toBeUndefined();
      else
        expect(r.problem).toMatchObject({
          status: r.status,
          instance: res.headers['x-request-id'],
          type: expect.stringMatching(/^https:\/\/errors\.referral-gateway\.dev\//),
        });
    }
    expect(await rowsOf(refs[4])).toHaveLength(1);
    expect(await rowsOf(refs[6])).toHaveLength(1);
    expect(await rowsOf(refs[2])).toEqual([]);
    // A single call says what the bulk line said: the same record.
    const single = await report(good);
    expect(single.statusCode).toBe(201);
    expect(keyOf('dlq', single.json().id)).toBe(String((await rowsOf(refs[4]))[0].id));

    // Another partner's referral in a bulk body: that line 404, audited as probing.
    const foreign = await bulk([JSON.stringify({ ...good, dpd: 120 })], otherToken);
    expect(foreign.json().results.map((r: Line) => r.status)).toEqual([404]);
    expect(await rowsOf(refs[4])).toHaveLength(1);
    expect((await audited('referral.access.denied', refs[4])).filter((e) => e.request_id === foreign.headers['x-request-id'])).toHaveLength(
      1,
    );
  });

  it("then excludes the user from another partner's ANY_PARTNER product with PARTNER_DELINQUENCY, not from its SAME_PARTNER one", async () => {
    const reported = await report({ referralId: refs[5], dpd: 35, amountOverdue: '700.00', asOf: day() });
    expect(reported.statusCode).toBe(201);

    const anyPartner = await createProduct(api, other.code, ['applicant.name']);
    const samePartner = await createProduct(api, other.code, ['applicant.name']);
    const patched = await inject(api, {
      method: 'PATCH',
      url: `/v1/admin/card-products/${samePartner}`,
      headers: adminHeaders(),
      payload: { delinquencyScope: 'SAME_PARTNER' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().delinquencyScope).toBe('SAME_PARTNER');
    const scopeOf = async (code: string) =>
      (await inject(api, { method: 'GET', url: `/v1/admin/card-products/${code}`, headers: adminHeaders() })).json().delinquencyScope;
    expect([await scopeOf(anyPartner), await scopeOf(samePartner)]).toEqual(['ANY_PARTNER', 'SAME_PARTNER']);

    const worker = await startWorker();
    let anyRun, sameRun;
    try {
      anyRun = await prescreen(api, anyPartner);
      sameRun = await prescreen(api, samePartner);
    } finally {
      await worker.close();
    }
    // Every user of this spec with a report from the bank (u0, u1, u4, u5, u6) is excluded from the other bank's product.
    const [{ n }] = await db.query('SELECT COUNT(DISTINCT user_id) AS n FROM partner_delinquencies WHERE user_id IN (?)', [users]);
    expect(Number(n)).toBe(5);
    // The pre-screen judges every current record of the run's database, other specs' reported users included.
    const [{ all }] = await db.query(
      'SELECT COUNT(DISTINCT d.user_id) AS `all` FROM partner_delinquencies d JOIN credit_records cr ON cr.user_id = d.user_id',
    );
    expect(Number(all)).toBeGreaterThanOrEqual(5);
    expect(anyRun.reasons.PARTNER_DELINQUENCY).toBe(Number(all));
    expect(sameRun.reasons.PARTNER_DELINQUENCY).toBe(0);
    const offers = async (userId: string) =>
      (await inject(api, { method: 'GET', url: '/v1/me/offers', headers: userHeaders(userId) }))
        .json()
        .data.map((o: { productCode: string }) => o.productCode);
    expect(await offers(users[5])).toContain(samePartner);
    expect(await offers(users[5])).not.toContain(anyPartner);
    // A user the banks never reported gets both.
    expect(await offers(users[3])).toEqual(expect.arrayContaining([anyPartner, samePartner]));
  });
});
