import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { dataSourceOf, startHttpApp } from '../support/app';
import { BankClient, inject } from '../support/partner-client';
import { rowKey as key } from '../support/public-ids';
import { applyAfterPrescreen, createProduct, registerPartner, userIds } from '../support/referral-flow';

/**
 * HEAD must not count as a fetch: Fastify used to answer HEAD with the GET handler, so `HEAD /partner/v1/referrals/{id}`
 * recorded a disclosure and moved the referral READY → DELIVERED although no file left.
 */
jest.setTimeout(90_000);

describe('HEAD requests', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let token: string;
  let ref: string;

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(`HEAD_${Date.now().toString(36).toUpperCase()}`);
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name']);
    [ref] = await applyAfterPrescreen(api, userIds(1), productCode);
    await api.get(ReferralPackagingProcessor).package({ referralId: key(ref), correlationId: 'test' });
    token = await bank.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('HEAD on a READY referral is refused and changes nothing: still READY, no disclosure, no DELIVERED timeline row', async () => {
    const res = await inject(api, { method: 'HEAD', url: `/partner/v1/referrals/${ref}`, headers: { authorization: `Bearer ${token}` } });
    expect([404, 405]).toContain(res.statusCode);
    expect(await db.query('SELECT status FROM referrals WHERE id = ?', [key(ref)])).toEqual([{ status: 'READY' }]);
    expect(await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(ref)])).toEqual([{ n: '0' }]);
    expect(
      await db.query("SELECT COUNT(*) AS n FROM referral_timeline WHERE referral_id = ? AND to_status = 'DELIVERED'", [key(ref)]),
    ).toEqual([{ n: '0' }]);

    // The GET that follows is the first delivery.
    const fetched = await inject(api, {
      method: 'GET',
      url: `/partner/v1/referrals/${ref}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(fetched.statusCode).toBe(200);
    expect(fetched.json().status).toBe('DELIVERED');
    expect(await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [key(ref)])).toEqual([{ n: '1' }]);
  });

  it('HEAD is refused on every other GET route too (no route answers HEAD)', async () => {
    for (const url of ['/partner/v1/referrals', '/partner/v1/me', '/health/live', '/.well-known/jwks.json']) {
      const res = await inject(api, { method: 'HEAD', url, headers: { authorization: `Bearer ${token}` } });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 404 });
    }
  });
});
