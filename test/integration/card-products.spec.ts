import { createHash } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

describe('operator API: /v1/admin/card-products', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let partnerCode: string;

  const post = (payload: object, headers: Record<string, string> = adminHeaders()) =>
    inject(app, { method: 'POST', url: '/v1/admin/card-products', headers, payload });
  const patch = (code: string, payload: object, headers: Record<string, string> = adminHeaders()) =>
    inject(app, { method: 'PATCH', url: `/v1/admin/card-products/${code}`, headers, payload });
  const get = (url: string, headers: Record<string, string> = adminHeaders()) =>
    inject(app, { method: 'GET', url: `/v1/admin/card-products${url}`, headers });

  const consentText = 'I agree that my name, score and repayment history are shared with the bank. 我同意。';
  const product = (extra: Record<string, unknown> = {}) => ({
    code: uniqueCode('CARD'),
    partnerCode,
    name: 'Platinum',
    criteria: [
      { field: 'score', op: '>=', value: 650, reason: 'SCORE_TOO_LOW' },
      { field: 'repayment.maxDpd24m', op: '<=', value: 30, reason: 'PAST_DELINQUENCY' },
      { field: 'creditLimit', op: '>=', value: '5000.00', reason: 'LIMIT_TOO_LOW' },
      { field: 'riskGrade', op: 'in', value: ['A', 'B'], reason: 'GRADE' },
      { field: 'accountAgeMonths', op: '>=', value: 12, reason: 'ACCOUNT_TOO_NEW' },
    ],
    sharedFields: ['applicant.name', 'creditRecord.score', 'creditRecord.repayment'],
    consentText,
    purpose: 'Credit card application with the partner bank',
    ...extra,
  });
  const auditRows = (action: string, code: string) =>
    db.query(
      `SELECT actor_type, actor_id, partner_code, outcome, http_status, details FROM audit_inbox WHERE action = ? AND resource_id = ?
       UNION ALL SELECT actor_type, actor_id, partner_code, outcome, http_status, details FROM audit_events WHERE action = ? AND resource_id = ?`,
      [action, code, action, code],
    );

  beforeAll(async () => {
    app = await startHttpApp();
    db = app.get(DataSource);
    const bank = new BankClient(uniqueCode());
    await bank.register(app);
    partnerCode = bank.code;
  });

  afterAll(async () => {
    await app.close();
  });

  it('creates version 1 with defaults, the consent text digest, and audits it in the same transaction', async () => {
    const body = product();
    const res = await post(body, { authorization: `Bearer ${platformToken(['admin'], 'ops-anna')}` });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      code: body.code,
      partnerCode,
      version: 1,
      status: 'ACTIVE',
      name: 'Platinum',
      criteria: body.criteria,
      sharedFields: body.sharedFields,
      consentText,
      textVersion: 1,
      textSha256: sha256(consentText),
      purpose: body.purpose,
      retentionDays: 365,
      decisionSlaHours: 72,
      dailyReferralCap: null,
      offerTtlDays: 30,
      delinquencyScope: 'ANY_PARTNER',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const [row] = await db.query(
      `SELECT v.version, v.text_sha256, v.created_by FROM card_product_versions v JOIN card_products p ON p.id = v.product_id WHERE p.code = ?`,
      [body.code],
    );
    expect(row).toEqual({ version: 1, text_sha256: sha256(consentText), created_by: 'ops-anna' });

    const audits = await auditRows('card_product.created', body.code);
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({
      actor_type: 'admin',
      actor_id: 'ops-anna',
      partner_code: partnerCode,
      outcome: 'SUCCESS',
      http_status: 201,
    });
    // The audit names the consent text by version and digest, never by content.
    expect(String(audits[0].details)).not.toContain('我同意');
  });

  it('normalises decimal criteria given as JSON numbers to decimal strings', async () => {
    const res = await post(product({ criteria: [{ field: 'consumption.returnRate12m', op: '<=', value: 0.04, reason: 'RETURNS' }] }));
    expect(res.statusCode).toBe(201);
    expect(res.json().criteria).toEqual([{ field: 'consumption.returnRate12m', op: '<=', value: '0.04', reason: 'RETURNS' }]);
  });

  it('makes a new immutable version per change; textVersion grows only when the consent text changes', async () => {
    const body = product({ dailyReferralCap: 500 });
    expect((await post(body)).statusCode).toBe(201);

    const v2 = await patch(body.code, {
      criteria: [{ field: 'score', op: '>=', value: 700, reason: 'SCORE_TOO_LOW' }],
      status: 'SUSPENDED',
    });
    expect(v2.statusCode).toBe(200);
    expect(v2.json()).toMatchObject({
      version: 2,
      status: 'SUSPENDED',
      textVersion: 1,
      textSha256: sha256(consentText),
      dailyReferralCap: 500,
    });

    const newText = `${consentText} Updated.`;
    const v3 = await patch(body.code, { consentText: newText, dailyReferralCap: null });
    expect(v3.statusCode).toBe(200);
    expect(v3.json()).toMatchObject({
      version: 3,
      textVersion: 2,
      textSha256: sha256(newText),
      consentText: newText,
      dailyReferralCap: null,
    });

    // Re-sending current values is not a change: no version 4, no audit entry.
    const same = await patch(body.code, { consentText: newText, status: 'SUSPENDED' });
    expect(same.statusCode).toBe(200);
    expect(same.json().version).toBe(3);

    // Earlier versions are kept as they were: offers pinned to them read them back unchanged.
    const v1 = await get(`/${body.code}/versions/1`);
    expect(v1.statusCode).toBe(200);
    expect(v1.json()).toMatchObject({
      version: 1,
      status: 'ACTIVE',
      criteria: body.criteria,
      consentText,
      textVersion: 1,
      dailyReferralCap: 500,
    });
    expect((await get(`/${body.code}/versions/2`)).json().criteria).toEqual([
      { field: 'score', op: '>=', value: 700, reason: 'SCORE_TOO_LOW' },
    ]);
    expect((await get(`/${body.code}/versions/4`)).statusCode).toBe(404);
    expect((await get(`/${body.code}`)).json().version).toBe(3);

    const updates = await auditRows('card_product.updated', body.code);
    expect(updates).toHaveLength(2);
    const versions = await db.query(
      'SELECT v.version FROM card_product_versions v JOIN card_products p ON p.id = v.product_id WHERE p.code = ? ORDER BY v.version',
      [body.code],
    );
    expect(versions.map((r: { version: number }) => r.version)).toEqual([1, 2, 3]);
  });

  it('lists products in creation order with cursor pagination', async () => {
    const a = product();
    const b = product();
    expect((await post(a)).statusCode).toBe(201);
    expect((await post(b)).statusCode).toBe(201);
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await get(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      all.push(...res.json().data.map((p: { code: string }) => p.code));
      cursor = res.json().nextCursor;
    } while (cursor);
    expect(all.indexOf(b.code)).toBe(all.indexOf(a.code) + 1);
    expect((await get('?limit=0')).statusCode).toBe(400);
  });

  it('refuses a duplicate code with 409 and an unknown partner with 400', async () => {
    const body = product();
    expect((await post(body)).statusCode).toBe(201);
    const again = await post(body);
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);

    const orphan = await post(product({ partnerCode: 'NO_SUCH_BANK' }));
    expect(orphan.statusCode).toBe(400);
    expect(orphan.json().errors).toEqual([{ field: 'partnerCode', message: expect.any(String) }]);
  });

  it('answers 404 for PATCH of an unknown product', async () => {
    expect((await patch('NO-SUCH-CARD', { name: 'x' })).statusCode).toBe(404);
  });

  describe('refuses bad criteria with 400 naming the rule and member', () => {
    const cases: Array<[string, unknown[], string]> = [
      [
        'an unknown field',
        [
          { field: 'score', op: '>=', value: 1, reason: 'A_B' },
          { field: 'income', op: '>=', value: 1, reason: 'A_B' },
        ],
        'criteria[1].field',
      ],
      ['an unknown operator', [{ field: 'score', op: '>', value: 1, reason: 'A_B' }], 'criteria[0].op'],
      ['an ordering operator on text', [{ field: 'riskGrade', op: '>=', value: 'A', reason: 'A_B' }], 'criteria[0].op'],
      ['a non-integer for an int field', [{ field: 'score', op: '>=', value: 650.5, reason: 'A_B' }], 'criteria[0].value'],
      ['a bad decimal', [{ field: 'creditLimit', op: '>=', value: '1e3', reason: 'A_B' }], 'criteria[0].value'],
      ['an impossible date', [{ field: 'accountOpenedAt', op: '<=', value: '2023-02-29', reason: 'A_B' }], 'criteria[0].value'],
      ['an empty in list', [{ field: 'riskGrade', op: 'in', value: [], reason: 'A_B' }], 'criteria[0].value'],
      ['a bad list item', [{ field: 'score', op: 'not_in', value: [1, '2'], reason: 'A_B' }], 'criteria[0].value[1]'],
      ['a lower-case reason', [{ field: 'score', op: '>=', value: 1, reason: 'low' }], 'criteria[0].reason'],
      ['an exclusion reason', [{ field: 'score', op: '>=', value: 1, reason: 'CURRENTLY_OVERDUE' }], 'criteria[0].reason'],
      ['an extra rule member', [{ field: 'score', op: '>=', value: 1, reason: 'A_B', weight: 2 }], 'criteria[0].weight'],
    ];
    it.each(cases)('%s', async (_name, criteria, field) => {
      const res = await post(product({ criteria }));
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().errors).toContainEqual({ field, message: expect.any(String) });
    });

    it('on PATCH too, leaving the product unchanged', async () => {
      const body = product();
      expect((await post(body)).statusCode).toBe(201);
      const res = await patch(body.code, { criteria: [{ field: 'score', op: 'between', value: [1, 2], reason: 'A_B' }] });
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toContainEqual({ field: 'criteria[0].op', message: expect.any(String) });
      expect((await get(`/${body.code}`)).json().version).toBe(1);
    });
  });

  describe('refuses other bad bodies with 400', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['an unknown shared field', { sharedFields: ['applicant.name', 'applicant.email'] }],
      ['a duplicate shared field', { sharedFields: ['applicant.name', 'applicant.name'] }],
      ['an unknown body member', { discount: 10 }],
      ['a lower-case code', { code: 'card-1' }],
      ['an empty consent text', { consentText: '' }],
      ['a bad status', { status: 'DELETED' }],
      ['a zero offer TTL', { offerTtlDays: 0 }],
      ['a bad delinquency scope', { delinquencyScope: 'NONE' }],
    ];
    it.each(cases)('%s', async (_name, extra) => {
      const res = await post(product(extra));
      expect(res.statusCode).toBe(400);
      expect(res.json().errors.length).toBeGreaterThan(0);
    });

    it('refuses changing code or partnerCode, and an empty PATCH', async () => {
      const body = product();
      expect((await post(body)).statusCode).toBe(201);
      expect((await patch(body.code, { partnerCode })).statusCode).toBe(400);
      expect((await patch(body.code, { code: 'OTHER' })).statusCode).toBe(400);
      expect((await patch(body.code, {})).statusCode).toBe(400);
    });
  });

  it('is for operators only: no token 401, another role 403', async () => {
    expect((await post(product(), {})).statusCode).toBe(401);
    expect((await get('', { authorization: `Bearer ${platformToken(['compliance'])}` })).statusCode).toBe(403);
    expect((await post(product(), { authorization: `Bearer ${platformToken(['platform'])}` })).statusCode).toBe(403);
  });
});
