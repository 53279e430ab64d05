import { createHash, randomBytes, randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { syntheticCreditRecord } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';
import { startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { OPAQUE_ID, rowKey } from '../support/public-ids';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const CONSENT_TEXT = 'I agree that my name and credit score are shared with the bank for this card application. 我同意。';
/** The run's velocity limit (see beforeAll): small, so the anti-fraud test stays short. */
const VELOCITY_LIMIT = 3;

describe('applicant API: /v1/me offers consent, applications, consents, disclosures', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let audit: AuditWriter;

  const me = (userId: string, extra: Record<string, string> = {}) => ({
    authorization: `Bearer ${platformToken(['user'], userId)}`,
    ...extra,
  });
  const get = (userId: string, url: string) => inject(app, { method: 'GET', url, headers: me(userId) });
  const post = (userId: string, url: string, payload?: object, extra: Record<string, string> = {}) =>
    inject(app, { method: 'POST', url, headers: me(userId, extra), ...(payload ? { payload } : {}) });
  const del = (userId: string, url: string) => inject(app, { method: 'DELETE', url, headers: me(userId) });

  async function newPartner() {
    const bank = new BankClient(uniqueCode());
    await bank.register(app);
    const [row] = await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]);
    return { code: bank.code, id: String(row.id) };
  }

  async function newProduct(partnerCode: string, extra: Record<string, unknown> = {}) {
    const code = uniqueCode('CARD');
    const res = await inject(app, {
      method: 'POST',
      url: '/v1/admin/card-products',
      headers: adminHeaders(),
      payload: {
        code,
        partnerCode,
        name: 'Platinum',
        criteria: [{ field: 'score', op: '>=', value: 300, reason: 'SCORE_TOO_LOW' }],
        sharedFields: ['applicant.name', 'creditRecord.score'],
        consentText: CONSENT_TEXT,
        purpose: 'Credit card application',
        ...extra,
      },
    });
    if (res.statusCode !== 201) throw new Error(`product: ${res.statusCode} ${res.body}`);
    const [row] = await db.query('SELECT id, current_version FROM card_products WHERE code = ?', [code]);
    return { code, id: String(row.id), version: Number(row.current_version) };
  }

  /** A platform user with a credit record ingested through the platform API. */
  async function newUser(nationalId?: string): Promise<string> {
    const record = syntheticCreditRecord({ seed: randomUUID(), userIdPrefix: `a${randomBytes(4).toString('hex')}_` }, 1);
    if (nationalId) record.identity.nationalId = nationalId;
    const res = await inject(app, {
      method: 'POST',
      url: '/v1/platform/credit-records',
      headers: { authorization: `Bearer ${platformToken(['platform'])}` },
      payload: [record],
    });
    if (res.statusCode !== 200 || res.json().accepted !== 1) throw new Error(`ingest: ${res.statusCode} ${res.body}`);
    return record.userId;
  }

  /** An offer as a pre-screen run makes it: pinned product version and record version (no snapshot until it changes). */
  async function newOffer(userId: string, product: { id: string; version: number }, expiresInDays = 30): Promise<string> {
    const run = await db.query(
      `INSERT INTO prescreen_runs (product_id, product_version, status, chunk_size, requested_by) VALUES (?, ?, 'COMPLETED', 1000, 'test')`,
      [product.id, product.version],
    );
    const offer = await db.query(
      `INSERT INTO offers (user_id, product_id, product_version, record_version, run_id, expires_at)
       SELECT user_id, ?, ?, record_version, ?, NOW(3) + INTERVAL ? DAY FROM credit_records WHERE user_id = ?`,
      [product.id, product.version, run.insertId, expiresInDays, userId],
    );
    return toPublicId('ofr', offer.insertId);
  }

  const consentOf = (text = CONSENT_TEXT, textVersion = 1) => ({ textVersion, textSha256: sha256(text), accepted: true });
  const apply = (userId: string, offerId: string, consent: object = consentOf(), extra: Record<string, string> = {}) =>
    post(userId, '/v1/me/applications', { offerId, consent }, extra);
  const keyOf = rowKey;
  const auditOf = (requestId: string) =>
    db.query(
      `SELECT action, actor_type, actor_id, subject_user_hash, partner_code, outcome, http_status, resource_id, details FROM audit_inbox WHERE request_id = ?
       UNION ALL SELECT action, actor_type, actor_id, subject_user_hash, partner_code, outcome, http_status, resource_id, details FROM audit_events WHERE request_id = ?`,
      [requestId, requestId],
    );

  beforeAll(async () => {
    app = await startHttpApp('api', { APPLICATION_VELOCITY_LIMIT: String(VELOCITY_LIMIT) });
    db = app.get(DataSource);
    audit = app.get(AuditWriter);
  });

  afterAll(async () => {
    await app.close();
  });

  it('shows the consent text of the offer verbatim, and nobody else’s offer', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code, { retentionDays: 180 });
    const user = await newUser();
    const offerId = await newOffer(user, product);

    const res = await get(user, `/v1/me/offers/${offerId}/consent`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      offerId,
      partner: { code: partner.code, name: `Bank ${partner.code}` },
      productCode: product.code,
      textVersion: 1,
      textSha256: sha256(CONSENT_TEXT),
      text: CONSENT_TEXT,
      sharedFields: ['applicant.name', 'creditRecord.score'],
      purpose: 'Credit card application',
      retentionDays: 180,
    });

    const other = await newUser();
    for (const url of [`/v1/me/offers/${offerId}/consent`, '/v1/me/offers/ofr_999999999/consent', '/v1/me/offers/ref_1/consent']) {
      const res404 = await get(other, url);
      expect(res404.statusCode).toBe(404);
      expect(res404.headers['content-type']).toContain('application/problem+json');
    }
    // Not a user token: the applicant API refuses it.
    expect((await inject(app, { method: 'GET', url: `/v1/me/offers/${offerId}/consent` })).statusCode).toBe(401);
    expect((await inject(app, { method: 'GET', url: `/v1/me/offers/${offerId}/consent`, headers: adminHeaders() })).statusCode).toBe(403);
  });

  it('applies in one transaction: consent, PACKAGING referral, consumed offer, open application, timeline, audit, outbox', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code, { decisionSlaHours: 48 });
    const user = await newUser();
    const offerId = await newOffer(user, product);
    const requestId = `apply-${randomUUID()}`;

    const res = await apply(user, offerId, consentOf(), { 'x-request-id': requestId });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      id: expect.stringMatching(OPAQUE_ID('ref')),
      status: 'PACKAGING',
      productCode: product.code,
      partner: { code: partner.code, name: `Bank ${partner.code}` },
      offerId,
      consentId: expect.stringMatching(OPAQUE_ID('cns')),
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
    });
    expect(Date.parse(body.expiresAt) - Date.parse(body.createdAt)).toBe(48 * 3600 * 1000);

    const [referral] = await db.query('SELECT * FROM referrals WHERE id = ?', [keyOf(body.id)]);
    expect(referral).toMatchObject({ user_id: user, partner_id: partner.id, status: 'PACKAGING', consent_id: keyOf(body.consentId) });
    expect(referral.user_ref).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [consent] = await db.query('SELECT * FROM consents WHERE id = ?', [keyOf(body.consentId)]);
    expect(consent).toMatchObject({
      user_id: user,
      status: 'ACTIVE',
      text_version: 1,
      text_sha256: sha256(CONSENT_TEXT),
      product_version: product.version,
    });
    const [offer] = await db.query('SELECT status, live_key FROM offers WHERE id = ?', [keyOf(offerId)]);
    expect(offer).toEqual({ status: 'CONSUMED', live_key: null });
    expect(
      await db.query('SELECT kind, referral_id FROM partner_relationships WHERE user_id = ? AND partner_id = ?', [user, partner.id]),
    ).toEqual([{ kind: 'OPEN_APPLICATION', referral_id: keyOf(body.id) }]);
    expect(
      await db.query('SELECT from_status, to_status, actor_type FROM referral_timeline WHERE referral_id = ?', [keyOf(body.id)]),
    ).toEqual([{ from_status: null, to_status: 'PACKAGING', actor_type: 'user' }]);
    const outbox = await db.query(`SELECT payload FROM outbox WHERE queue = 'referrals' AND job_name = 'referral.package'`);
    expect(
      outbox.map((r: { payload: string | object }) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload)),
    ).toContainEqual({
      referralId: keyOf(body.id),
      correlationId: requestId,
    });
    const entries = await auditOf(requestId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'application.submitted',
      actor_type: 'user',
      actor_id: audit.subjectHash(user),
      subject_user_hash: audit.subjectHash(user),
      partner_code: partner.code,
      outcome: 'SUCCESS',
      resource_id: body.id,
    });
    expect(JSON.stringify(entries[0])).not.toContain(user);

    // The same user is known to another partner by a different, equally stable reference.
    const partner2 = await newPartner();
    const product2 = await newProduct(partner2.code);
    const second = await apply(user, await newOffer(user, product2));
    expect(second.statusCode).toBe(201);
    const [referral2] = await db.query('SELECT user_ref FROM referrals WHERE id = ?', [keyOf(second.json().id)]);
    expect(referral2.user_ref).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(referral2.user_ref).not.toBe(referral.user_ref);
  });

  it('refuses bad bodies (400), stale or mismatching consent (409), used or expired offers (409) and others’ offers (404)', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();
    const offerId = await newOffer(user, product);

    expect((await apply(user, offerId, { ...consentOf(), accepted: false })).statusCode).toBe(400);
    expect((await post(user, '/v1/me/applications', { offerId, consent: consentOf(), extra: 1 })).statusCode).toBe(400);
    expect((await post(user, '/v1/me/applications', { offerId })).statusCode).toBe(400);

    const stale = await apply(user, offerId, consentOf('an older text'));
    expect(stale.statusCode).toBe(409);
    expect(stale.json().type).toBe('https://errors.referral-gateway.dev/consent-text-mismatch');
    expect((await apply(user, offerId, consentOf(CONSENT_TEXT, 2))).statusCode).toBe(409);

    // A newer product version does not change what this offer pinned: its text still applies; the new one does not.
    const newText = `${CONSENT_TEXT} Now also the phone number.`;
    const patched = await inject(app, {
      method: 'PATCH',
      url: `/v1/admin/card-products/${product.code}`,
      headers: adminHeaders(),
      payload: { consentText: newText },
    });
    expect(patched.statusCode).toBe(200);
    expect((await apply(user, offerId, consentOf(newText, 2))).statusCode).toBe(409);

    expect((await apply(await newUser(), offerId)).statusCode).toBe(404);
    expect((await apply(user, 'ofr_999999999')).statusCode).toBe(404);

    expect((await apply(user, offerId)).statusCode).toBe(201);
    const again = await apply(user, offerId);
    expect(again.statusCode).toBe(409);
    expect(again.json().type).toBe('https://errors.referral-gateway.dev/offer-not-live');

    const user2 = await newUser();
    const expired = await newOffer(user2, product, -1);
    const res = await apply(user2, expired);
    expect(res.statusCode).toBe(409);
    expect(res.json().type).toBe('https://errors.referral-gateway.dev/offer-not-live');
    expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE user_id = ?', [user2])).toEqual([{ n: '0' }]);
  });

  it('refuses a second open application with the same partner (409), even concurrently', async () => {
    const partner = await newPartner();
    const [p1, p2, p3] = [await newProduct(partner.code), await newProduct(partner.code), await newProduct(partner.code)];
    const user = await newUser();
    expect((await apply(user, await newOffer(user, p1))).statusCode).toBe(201);
    const second = await apply(user, await newOffer(user, p2));
    expect(second.statusCode).toBe(409);
    expect(second.json().type).toBe('https://errors.referral-gateway.dev/open-application');
    // The refusal is audited on its own; nothing of the attempt was kept.
    const [offer] = await db.query('SELECT status FROM offers WHERE user_id = ? AND product_id = ?', [user, p2.id]);
    expect(offer.status).toBe('LIVE');

    const racer = await newUser();
    const offers = [await newOffer(racer, p2), await newOffer(racer, p3)];
    const results = await Promise.all(offers.map((o) => apply(racer, o)));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409]);
    expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE user_id = ?', [racer])).toEqual([{ n: '1' }]);
  });

  it('replays the same Idempotency-Key with the same referral and creates only one', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();
    const offerId = await newOffer(user, product);
    const key = { 'idempotency-key': `k-${randomUUID()}` };

    const first = await apply(user, offerId, consentOf(), key);
    const replay = await apply(user, offerId, consentOf(), key);
    expect(first.statusCode).toBe(201);
    expect(replay.statusCode).toBe(201);
    expect(replay.json()).toEqual(first.json());
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE user_id = ?', [user])).toEqual([{ n: '1' }]);
    // The same key with another body is 422.
    expect((await apply(user, offerId, consentOf('other'), key)).statusCode).toBe(422);
  });

  it('keeps to the daily referral cap of a product, also under concurrent applications', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code, { dailyReferralCap: 2 });
    const users = await Promise.all([1, 2, 3, 4, 5].map(() => newUser()));
    const offers = await Promise.all(users.map((u) => newOffer(u, product)));

    const results = await Promise.all(users.map((u, i) => apply(u, offers[i])));
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 201, 409, 409, 409]);
    const refused = results.find((r) => r.statusCode === 409)!;
    expect(refused.json().type).toBe('https://errors.referral-gateway.dev/daily-referral-cap-reached');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(86400);
    expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE product_id = ?', [product.id])).toEqual([{ n: '2' }]);
  });

  it('keeps to a cap of 3 with 10 concurrent applicants, and audits each refusal', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code, { dailyReferralCap: 3 });
    const users = await Promise.all(Array.from({ length: 10 }, () => newUser()));
    const offers = await Promise.all(users.map((u) => newOffer(u, product)));
    const requestIds = users.map(() => `cap-${randomUUID()}`);

    const results = await Promise.all(users.map((u, i) => apply(u, offers[i], consentOf(), { 'x-request-id': requestIds[i] })));
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    for (const r of results.filter((x) => x.statusCode === 409))
      expect(r.json().type).toBe('https://errors.referral-gateway.dev/daily-referral-cap-reached');
    expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE product_id = ?', [product.id])).toEqual([{ n: '3' }]);
    // The refused ones left nothing behind: their offers are still live, and each refusal is on record.
    expect(await db.query(`SELECT COUNT(*) AS n FROM offers WHERE product_id = ? AND status = 'LIVE'`, [product.id])).toEqual([{ n: '7' }]);
    const refused = results.flatMap((r, i) => (r.statusCode === 409 ? [requestIds[i]] : []));
    for (const requestId of refused) {
      const entries = await auditOf(requestId);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({ action: 'application.refused', outcome: 'DENIED', http_status: 409 });
      expect(String(entries[0].details)).toContain('daily-referral-cap-reached');
    }
  });

  it('counts applications that were in flight when a cap was set: an uncapped product is not locked out, but not overrun', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const users = await Promise.all([0, 1, 2, 3].map(() => newUser()));
    const offers = await Promise.all(users.map((u) => newOffer(u, product)));
    expect((await apply(users[0], offers[0])).statusCode).toBe(201);

    // A product change in progress, as PATCH makes it: the product row locked, a new current version with cap 2.
    const change = db.createQueryRunner();
    await change.connect();
    try {
      await change.startTransaction('READ COMMITTED');
      await change.query('SELECT id FROM card_products WHERE id = ? FOR UPDATE', [product.id]);
      const columns = (
        await change.query(
          `SELECT column_name AS c FROM information_schema.columns
            WHERE table_schema = DATABASE() AND table_name = 'card_product_versions' AND column_name NOT IN ('version', 'daily_referral_cap', 'created_at')`,
        )
      ).map((r: { c: string }) => r.c);
      await change.query(
        `INSERT INTO card_product_versions (${columns.join(', ')}, version, daily_referral_cap)
         SELECT ${columns.join(', ')}, version + 1, 2 FROM card_product_versions WHERE product_id = ? AND version = ?`,
        [product.id, product.version],
      );
      await change.query('UPDATE card_products SET current_version = ? WHERE id = ?', [product.version + 1, product.id]);

      // Three applications read the product as uncapped (the change is not committed) and reach its lock.
      // (then() sends them now: light-my-request dispatches an injected request only once it is awaited.)
      const pending = [1, 2, 3].map((i) => apply(users[i], offers[i]).then((r) => r));
      const deadline = Date.now() + 10_000;
      for (;;) {
        const [row] = await db.query(
          `SELECT COUNT(*) AS n FROM information_schema.processlist WHERE db = DATABASE() AND command = 'Query' AND info LIKE ?`,
          [`%WHERE p.id = '${product.id}' LOCK IN SHARE MODE%`],
        );
        if (Number(row.n) === 3) break;
        if (Date.now() > deadline) throw new Error(`only ${row.n} applications waiting for the product lock`);
        await new Promise((r) => setTimeout(r, 20));
      }
      await change.commitTransaction();

      // Once the cap is committed they see it and count one after another: 1 earlier + 1 more = the cap of 2.
      const results = await Promise.all(pending);
      expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409]);
      for (const r of results.filter((x) => x.statusCode === 409))
        expect(r.json().type).toBe('https://errors.referral-gateway.dev/daily-referral-cap-reached');
      expect(await db.query('SELECT COUNT(*) AS n FROM referrals WHERE product_id = ?', [product.id])).toEqual([{ n: '2' }]);
    } finally {
      if (change.isTransactionActive) await change.rollbackTransaction();
      await change.release();
    }
  });

  it('refuses, with a reason code and an audit entry, an identity already applying from another account', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const nationalId = `11010519491231${String(randomBytes(2).readUInt16BE()).padStart(4, '0')}`;
    const [first, second] = [await newUser(nationalId), await newUser(nationalId)];
    expect((await apply(first, await newOffer(first, product))).statusCode).toBe(201);

    const requestId = `fraud-${randomUUID()}`;
    const res = await apply(second, await newOffer(second, product), consentOf(), { 'x-request-id': requestId });
    expect(res.statusCode).toBe(403);
    expect(res.json().type).toBe('https://errors.referral-gateway.dev/identity-shared-across-accounts');
    expect(res.body).not.toContain(nationalId);
    const entries = await auditOf(requestId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'application.refused',
      outcome: 'DENIED',
      http_status: 403,
      subject_user_hash: audit.subjectHash(second),
    });
    expect(String(entries[0].details)).toContain('identity-shared-across-accounts');
  });

  it('lists applications with paging, shows one with its timeline, withdraws before a final decision only', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();

    // Apply and withdraw up to the velocity limit, then the next application is refused.
    const ids: string[] = [];
    for (let i = 0; i < VELOCITY_LIMIT; i++) {
      const res = await apply(user, await newOffer(user, product));
      expect(res.statusCode).toBe(201);
      ids.push(res.json().id);
      const withdrawn = await post(user, `/v1/me/applications/${res.json().id}/withdraw`);
      expect(withdrawn.statusCode).toBe(200);
      expect(withdrawn.json().status).toBe('WITHDRAWN');
    }
    const tooMany = await apply(user, await newOffer(user, product));
    expect(tooMany.statusCode).toBe(403);
    expect(tooMany.json().type).toBe('https://errors.referral-gateway.dev/application-velocity-exceeded');

    const page1 = await get(user, '/v1/me/applications?limit=2');
    expect(page1.statusCode).toBe(200);
    expect(page1.json().data.map((a: { id: string }) => a.id)).toEqual(ids.slice(0, 2));
    const page2 = await get(user, `/v1/me/applications?limit=2&cursor=${page1.json().nextCursor}`);
    expect(page2.json()).toEqual({ data: [expect.objectContaining({ id: ids[2], status: 'WITHDRAWN' })], nextCursor: null });
    expect((await get(user, '/v1/me/applications?limit=0')).statusCode).toBe(400);

    const detail = await get(user, `/v1/me/applications/${ids[0]}`);
    expect(detail.statusCode).toBe(200);
    expect(detail.json().timeline).toEqual([
      { from: null, status: 'PACKAGING', by: 'user', at: expect.any(String) },
      { from: 'PACKAGING', status: 'WITHDRAWN', by: 'user', at: expect.any(String) },
    ]);
    // Withdrawing again answers like the first time; the open application is gone, so a new one is possible.
    const again = await post(user, `/v1/me/applications/${ids[0]}/withdraw`);
    expect(again.statusCode).toBe(200);
    expect(again.json().timeline).toHaveLength(2);
    expect(await db.query('SELECT * FROM partner_relationships WHERE user_id = ?', [user])).toEqual([]);

    const other = await newUser();
    expect((await get(other, `/v1/me/applications/${ids[0]}`)).statusCode).toBe(404);
    expect((await post(other, `/v1/me/applications/${ids[0]}/withdraw`)).statusCode).toBe(404);
    expect((await get(other, '/v1/me/applications')).json()).toEqual({ data: [], nextCursor: null });
  });

  it('tells the partner of a withdrawal it had heard of, and refuses to withdraw a final decision', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();
    const ref = (await apply(user, await newOffer(user, product))).json().id;
    // Packaged: the partner has been told (status set directly; packaging is another module's job).
    await db.query(`UPDATE referrals SET status = 'READY' WHERE id = ?`, [keyOf(ref)]);

    const requestId = `wd-${randomUUID()}`;
    const res = await post(user, `/v1/me/applications/${ref}/withdraw`, undefined, { 'x-request-id': requestId });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('WITHDRAWN');
    expect(await db.query('SELECT event_type, txn FROM partner_events WHERE partner_id = ?', [partner.id])).toEqual([
      { event_type: 'referral.withdrawn', txn: ref },
    ]);
    expect(await auditOf(requestId)).toEqual([
      expect.objectContaining({ action: 'application.withdrawn', resource_id: ref, outcome: 'SUCCESS' }),
    ]);

    const user2 = await newUser();
    const ref2 = (await apply(user2, await newOffer(user2, product))).json().id;
    await db.query(`UPDATE referrals SET status = 'APPROVED', decision = ? WHERE id = ?`, [
      JSON.stringify({ decision: 'APPROVED', decidedAt: '2026-11-22T08:00:00Z', creditLimit: '20000.00', cardLast4: '1234' }),
      keyOf(ref2),
    ]);
    const final = await post(user2, `/v1/me/applications/${ref2}/withdraw`);
    expect(final.statusCode).toBe(409);
    expect(final.json().type).toBe('https://errors.referral-gateway.dev/application-final');
    expect((await get(user2, `/v1/me/applications/${ref2}`)).json()).toMatchObject({
      status: 'APPROVED',
      decision: { decision: 'APPROVED', creditLimit: '20000.00', cardLast4: '1234' },
    });
  });

  it('lists consents and revokes one idempotently, withdrawing the application made under it', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();
    const applied = (await apply(user, await newOffer(user, product))).json();

    const list = await get(user, '/v1/me/consents');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({
      data: [
        {
          id: applied.consentId,
          partner: { code: partner.code, name: `Bank ${partner.code}` },
          productCode: product.code,
          textVersion: 1,
          textSha256: sha256(CONSENT_TEXT),
          purpose: 'Credit card application',
          sharedFields: ['applicant.name', 'creditRecord.score'],
          retentionDays: 365,
          status: 'ACTIVE',
          grantedAt: expect.any(String),
          revokedAt: null,
          referralId: applied.id,
        },
      ],
      nextCursor: null,
    });

    const other = await newUser();
    expect((await del(other, `/v1/me/consents/${applied.consentId}`)).statusCode).toBe(404);
    expect((await del(user, '/v1/me/consents/cns_abc')).statusCode).toBe(404);

    const revoked = await del(user, `/v1/me/consents/${applied.consentId}`);
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: applied.consentId, status: 'REVOKED', revokedAt: expect.any(String) });
    const again = await del(user, `/v1/me/consents/${applied.consentId}`);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(revoked.json());

    expect((await get(user, `/v1/me/applications/${applied.id}`)).json().status).toBe('WITHDRAWN');
    const audits = await db.query(
      `SELECT action FROM audit_inbox WHERE resource_id = ? UNION ALL SELECT action FROM audit_events WHERE resource_id = ?`,
      [applied.consentId, applied.consentId],
    );
    expect(audits).toEqual([{ action: 'consent.revoked' }]);
  });

  it('lists the user’s disclosures from the ledger, and only theirs', async () => {
    const partner = await newPartner();
    const product = await newProduct(partner.code);
    const user = await newUser();
    const applied = (await apply(user, await newOffer(user, product))).json();
    await db.query(
      `INSERT INTO disclosures (user_id, partner_id, consent_id, referral_id, kind, shared_fields, artefact_sha256) VALUES (?, ?, ?, ?, 'REFERRAL_FILE', ?, ?)`,
      [
        user,
        partner.id,
        keyOf(applied.consentId),
        keyOf(applied.id),
        JSON.stringify(['applicant.name', 'creditRecord.score']),
        'a'.repeat(64),
      ],
    );

    const res = await get(user, '/v1/me/disclosures');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      data: [
        {
          id: expect.stringMatching(/^dsc_/),
          partner: { code: partner.code, name: `Bank ${partner.code}` },
          kind: 'REFERRAL_FILE',
          referralId: applied.id,
          consentId: applied.consentId,
          sharedFields: ['applicant.name', 'creditRecord.score'],
          disclosedAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });
    expect((await get(await newUser(), '/v1/me/disclosures')).json()).toEqual({ data: [], nextCursor: null });
  });
});
