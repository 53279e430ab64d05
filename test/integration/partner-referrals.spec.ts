import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { ReferralFileSealer } from '../../src/modules/referrals/referral-file.sealer';
import { dataSourceOf, startHttpApp } from '../support/app';
import { BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { applyAfterPrescreen, createProduct, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Packaging idempotency and the partner referral API's rules, on real MariaDB and Redis. The worker runs only the
 * pre-screen; packaging jobs are then run here by hand, so each test controls when a referral becomes READY.
 */
jest.setTimeout(90_000);

describe('referral packaging and the partner referral API', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let token: string;
  let productCode: string;
  const users = userIds(4);
  const refs: string[] = [];
  const key = rowKey;
  const pack = (publicId: string) => api.get(ReferralPackagingProcessor).package({ referralId: key(publicId), correlationId: 'test' });
  const get = (url: string, t = token) => inject(api, { method: 'GET', url, headers: { authorization: `Bearer ${t}` } });
  const post = (url: string, t = token) => inject(api, { method: 'POST', url, headers: { authorization: `Bearer ${t}` } });

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('PR'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    productCode = await createProduct(api, bank.code, ['applicant.name', 'creditRecord.score']);
    refs.push(...(await applyAfterPrescreen(api, users, productCode)));
    token = await bank.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('never lists a PACKAGING referral, and 404s it', async () => {
    const res = await get('/partner/v1/referrals');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ data: [], nextCursor: null });
    expect((await get(`/partner/v1/referrals/${refs[0]}`)).statusCode).toBe(404);
  });

  it('packages once however often the job runs: one file, one event, one timeline entry', async () => {
    expect(await pack(refs[0])).toEqual({ outcome: 'packaged' });
    const [first] = await db.query('SELECT status, file_enc, file_sha256, file_kid, file_jti FROM referrals WHERE id = ?', [key(refs[0])]);
    expect(await Promise.all([pack(refs[0]), pack(refs[0])])).toEqual([{ outcome: 'already-packaged' }, { outcome: 'already-packaged' }]);
    const [after] = await db.query('SELECT status, file_enc, file_sha256, file_kid, file_jti FROM referrals WHERE id = ?', [key(refs[0])]);
    expect(first.status).toBe('READY');
    expect(after).toEqual(first);
    expect(await db.query('SELECT event_type FROM partner_events WHERE txn = ?', [refs[0]])).toEqual([{ event_type: 'referral.ready' }]);
    expect(
      await db.query("SELECT from_status, to_status FROM referral_timeline WHERE referral_id = ? AND to_status = 'READY'", [key(refs[0])]),
    ).toHaveLength(1);
    // Only the shared fields travel: the claim has name and score, no other identity or credit data.
    const stored = api.get(ReferralFileSealer).open(key(refs[0]), first.file_enc);
    const claims = JSON.parse(Buffer.from(stored.split('.')[1], 'base64url').toString());
    expect(claims.referral.applicant).toEqual({ userRef: expect.any(String), name: expect.any(String) });
    expect(claims.referral.creditRecord).toEqual({ asOf: '2026-11-20', score: 712 });
  });

  it('lists metadata only, filters by status and validates the query', async () => {
    await pack(refs[1]);
    const res = await get('/partner/v1/referrals?status=READY&limit=1');
    expect(res.statusCode).toBe(200);
    const page1 = res.json();
    expect(page1.data).toEqual([
      { id: refs[0], productCode, status: 'READY', createdAt: expect.any(String), expiresAt: expect.any(String) },
    ]);
    const page2 = (await get(`/partner/v1/referrals?status=READY&limit=1&cursor=${page1.nextCursor}`)).json();
    expect(page2.data.map((r: { id: string }) => r.id)).toEqual([refs[1]]);
    expect((await get('/partner/v1/referrals?status=APPROVED')).json().data).toEqual([]);
    for (const bad of ['status=PACKAGING', 'status=ready', 'limit=0', 'limit=501', 'cursor=garbage!']) {
      const r = await get(`/partner/v1/referrals?${bad}`);
      expect([bad, r.statusCode]).toEqual([bad, 400]);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    }
  });

  it('refuses acknowledgement before the bank fetched the file, then acknowledges idempotently', async () => {
    const early = await post(`/partner/v1/referrals/${refs[1]}/acknowledgement`);
    expect(early.statusCode).toBe(409);
    expect(early.json().type).toBe('https://errors.referral-gateway.dev/referral-not-delivered');

    const first = await get(`/partner/v1/referrals/${refs[1]}`);
    expect(first.json().status).toBe('DELIVERED');
    const second = await get(`/partner/v1/referrals/${refs[1]}`);
    expect(second.json()).toEqual(first.json());
    // Every fetch is its own disclosure.
    expect(await db.query('SELECT kind FROM disclosures WHERE referral_id = ?', [key(refs[1])])).toEqual([
      { kind: 'REFERRAL_FILE' },
      { kind: 'REFERRAL_FILE' },
    ]);

    const ack = await post(`/partner/v1/referrals/${refs[1]}/acknowledgement`);
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ id: refs[1], status: 'ACKNOWLEDGED' });
    expect((await post(`/partner/v1/referrals/${refs[1]}/acknowledgement`)).json()).toEqual(ack.json());
  });

  it('needs the referrals:read scope, and answers unknown or malformed ids 404', async () => {
    const eventsOnly = await bank.accessToken(api, 'events:read');
    expect((await get('/partner/v1/referrals', eventsOnly)).statusCode).toBe(403);
    expect((await get(`/partner/v1/referrals/${refs[0]}`, eventsOnly)).statusCode).toBe(403);
    for (const id of ['ref_0', 'ofr_1', 'nonsense', `ref_${key(refs[0])}0000`])
      expect((await get(`/partner/v1/referrals/${id}`)).statusCode).toBe(404);
  });

  it('stops serving the file once the applicant revokes the consent (410), recording no disclosure', async () => {
    await pack(refs[2]);
    expect((await get(`/partner/v1/referrals/${refs[2]}`)).statusCode).toBe(200);
    const [{ consent_id }] = await db.query('SELECT consent_id FROM referrals WHERE id = ?', [key(refs[2])]);
    const revoke = await inject(api, {
      method: 'DELETE',
      url: `/v1/me/consents/${toPublicId('cns', consent_id)}`,
      headers: userHeaders(users[2]),
    });
    expect(revoke.statusCode).toBeLessThan(300);
    const gone = await get(`/partner/v1/referrals/${refs[2]}`);
    expect(gone.statusCode).toBe(410);
    expect(gone.json().type).toBe('https://errors.referral-gateway.dev/consent-revoked');
    expect(await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(refs[2])])).toEqual([{ n: '1' }]);
  });

  it('does not package under a consent revoked before packaging', async () => {
    const [{ consent_id }] = await db.query('SELECT consent_id FROM referrals WHERE id = ?', [key(refs[3])]);
    await inject(api, { method: 'DELETE', url: `/v1/me/consents/${toPublicId('cns', consent_id)}`, headers: userHeaders(users[3]) });
    await pack(refs[3]);
    const [row] = await db.query('SELECT status, file_enc FROM referrals WHERE id = ?', [key(refs[3])]);
    expect(row.file_enc).toBeNull();
    expect(row.status).not.toBe('READY');
  });

  it("lets only compliance read a user's disclosures", async () => {
    const url = `/v1/compliance/users/${users[1]}/disclosures`;
    expect((await inject(api, { method: 'GET', url, headers: { authorization: `Bearer ${platformToken(['admin'])}` } })).statusCode).toBe(
      403,
    );
    expect((await inject(api, { method: 'GET', url })).statusCode).toBe(401);
    const ok = await inject(api, {
      method: 'GET',
      url: `${url}?limit=1`,
      headers: { authorization: `Bearer ${platformToken(['compliance'])}` },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({
      data: [expect.objectContaining({ kind: 'REFERRAL_FILE', referralId: refs[1] })],
      nextCursor: expect.any(String),
    });
  });
});
