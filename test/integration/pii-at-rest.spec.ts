import { randomBytes, randomInt } from 'node:crypto';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { DecryptionError } from '../../src/infra/crypto/envelope';
import { ReferralFileSealer } from '../../src/modules/referrals/referral-file.sealer';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { PartnerBankClient } from '../support/bank-client';
import { adminHeaders, GATEWAY, inject, platformToken, uniqueCode } from '../support/partner-client';
import {
  ALL_SHARED_FIELDS,
  createProduct,
  creditRecordLine,
  prescreen,
  registerPartner,
  userHeaders,
  userIds,
} from '../support/referral-flow';
import { scanDatabase, scanRedis, secretsIn } from '../support/stored-values';

/**
 * Item 5 of the security review: no applicant identity (name, national id, phone) is kept in clear anywhere the
 * gateway writes, after a whole referral has gone through it — ingest, pre-screen, consent and apply, packaging,
 * the bank's event poll, fetch, acknowledgement and decision, the applicant's and compliance's reads — each through
 * the real HTTP server (the bank over a real socket, with jose). Every table of the run's database and every Redis
 * key of the run is read back and searched, in clear, as hex and inside anything base64 or base64url (JWS segments).
 */
jest.setTimeout(120_000);

const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');

describe('applicant identity at rest', () => {
  let api: NestFastifyApplication;
  let worker: INestApplicationContext;
  let db: DataSource;
  let bank: PartnerBankClient;
  const [userId] = userIds(1);
  // Values no other spec writes, so any hit is this flow's.
  const identity = {
    name: `Secret Name ${randomBytes(5).toString('hex')}`,
    nationalId: `110105${digits(12)}`,
    phone: `+86139${digits(8)}`,
  };
  const secrets = [identity.name, identity.nationalId, identity.phone, identity.phone.slice(1), identity.phone.slice(3)];
  let referralId: string;
  let file: string;

  beforeAll(async () => {
    api = await startHttpApp();
    await api.listen(0, '127.0.0.1');
    const { port } = api.getHttpServer().address() as { port: number };
    worker = await startWorker();
    db = dataSourceOf(api);
    bank = new PartnerBankClient({ baseUrl: `http://127.0.0.1:${port}`, issuer: GATEWAY, clientId: uniqueCode('PII') });
    await registerPartner(api, bank.options.clientId, await bank.publicJwks());
    const productCode = await createProduct(api, bank.options.clientId, ALL_SHARED_FIELDS);

    // Ingest with an Idempotency-Key, so the stored response is in the dump; the second line is refused (bad phone)
    // and its error must not echo what it was given.
    const line = { ...creditRecordLine(userId), identity: { ...identity, kycLevel: 2 } };
    const refused = { ...line, userId: `${userId}_x`, identity: { ...identity, phone: `not a phone ${identity.phone}` } };
    const ingested = await inject(api, {
      method: 'POST',
      url: '/v1/platform/credit-records',
      headers: { authorization: `Bearer ${platformToken(['platform'])}`, 'idempotency-key': `pii-${userId}` },
      payload: [line, refused],
    });
    expect(ingested.statusCode).toBe(200);
    expect(ingested.json()).toMatchObject({ accepted: 1, rejected: [{ line: 2 }] });
    await prescreen(api, productCode);

    const offers = (await inject(api, { method: 'GET', url: '/v1/me/offers', headers: userHeaders(userId) })).json().data;
    const offer = offers.find((o: { productCode: string }) => o.productCode === productCode);
    const consentUrl = `/v1/me/offers/${offer.id}/consent`;
    const consent = (await inject(api, { method: 'GET', url: consentUrl, headers: userHeaders(userId) })).json();
    const applied = await inject(api, {
      method: 'POST',
      url: '/v1/me/applications',
      headers: { ...userHeaders(userId), 'idempotency-key': `apply-${userId}` },
      payload: { offerId: offer.id, consent: { textVersion: consent.textVersion, textSha256: consent.textSha256, accepted: true } },
    });
    expect(applied.statusCode).toBe(201);
    referralId = applied.json().id;

    // The bank: its event feed (the referral.ready SET), the fetch, the acknowledgement and an approval.
    const polled = await eventually(async () => {
      const res = await bank.call('POST', '/partner/v1/events/poll', { maxEvents: 10, returnImmediately: true });
      return Object.keys(res.body.sets ?? {}).length ? res.body : undefined;
    }, 30_000);
    expect((await bank.call('POST', '/partner/v1/events/poll', { maxEvents: 0, ack: Object.keys(polled.sets) })).status).toBe(200);
    const fetched = await bank.fetchReferral(referralId);
    expect(fetched.status).toBe(200);
    file = fetched.body.file;
    expect((await bank.acknowledge(referralId)).status).toBe(200);
    const decided = await bank.call('POST', `/partner/v1/referrals/${referralId}/decision`, {
      decision: 'APPROVED',
      decidedAt: new Date().toISOString(),
      creditLimit: '20000.00',
      cardLast4: '1234',
    });
    expect(decided.status).toBe(200);

    // The applicant's and compliance's reads.
    expect((await inject(api, { method: 'GET', url: `/v1/me/applications/${referralId}`, headers: userHeaders(userId) })).statusCode).toBe(
      200,
    );
    expect((await inject(api, { method: 'GET', url: '/v1/me/disclosures', headers: userHeaders(userId) })).statusCode).toBe(200);
    const compliance = { authorization: `Bearer ${platformToken(['compliance'])}` };
    expect((await inject(api, { method: 'GET', url: `/v1/compliance/users/${userId}/disclosures`, headers: compliance })).statusCode).toBe(
      200,
    );
    expect((await inject(api, { method: 'GET', url: '/v1/admin/card-products', headers: adminHeaders() })).statusCode).toBe(200);
    // The decision job (cardholder enrolment) and the audit chainer have run: their rows are in the dump too.
    await eventually(async () => {
      const [row] = await db.query("SELECT COUNT(*) AS n FROM outbox WHERE status <> 'DONE' AND queue = 'decisions'");
      return Number(row.n) === 0;
    }, 20_000);
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('hands the bank a file that verifies against the JWKS with jose and holds the shared identity', async () => {
    const { claims } = await bank.verifyReferralFile(file, referralId);
    expect(claims.referral.applicant).toEqual({
      userRef: expect.any(String),
      name: identity.name,
      nationalId: identity.nationalId,
      phone: identity.phone,
      kycLevel: 2,
    });
    // The scan below would find a clear file: the search can fail.
    expect(secretsIn(file, secrets).map((s) => s.secret)).toEqual(expect.arrayContaining([identity.name, identity.nationalId]));
  });

  it('keeps no shared identity value in clear, as hex or base64 in any table of the database', async () => {
    const { leaks, tables } = await scanDatabase(db, secrets);
    // The scan covered the tables that hold the flow: the referral with its sealed file, the events, the audit.
    expect(tables).toEqual(expect.arrayContaining(['referrals', 'partner_events', 'outbox', 'idempotency_keys', 'audit_events']));
    expect(leaks).toEqual([]);
  });

  it('keeps none in Redis either (job payloads and results, rate limits, replay stores)', async () => {
    const { leaks, keys } = await scanRedis(process.env.REDIS_URL!, process.env.REDIS_PREFIX!, secrets);
    expect(keys).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  it('stores the file sealed under the master key, bound to its referral: it opens to what the bank got, and only there', async () => {
    const key = keyOf('ref', referralId)!;
    const [row] = await db.query('SELECT file_enc, file_sha256 FROM referrals WHERE id = ?', [key]);
    expect(Buffer.isBuffer(row.file_enc)).toBe(true);
    const sealer = api.get(ReferralFileSealer);
    expect(sealer.open(key, row.file_enc)).toBe(file);
    // Copied onto another referral's row, the ciphertext does not open (the referral id is its AAD).
    expect(() => sealer.open(String(BigInt(key) + 1n), row.file_enc)).toThrow(DecryptionError);
  });
});
