import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { PartnerBankClient } from '../support/bank-client';
import { GATEWAY, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import {
  ALL_SHARED_FIELDS,
  apply,
  createProduct,
  ingest,
  prescreen,
  registerPartner,
  TEST_COHORT,
  userIds,
} from '../support/referral-flow';

/**
 * The whole referral path on real MariaDB and Redis, over a real socket: ingest → pre-screen → offer → consent →
 * apply → packaging by the worker → READY → the bank (jose + Node http only) takes a token, lists, fetches, verifies
 * the file against the JWKS and acknowledges; another bank gets 404; the disclosure is in the ledger and the audit.
 */
jest.setTimeout(90_000);

async function auditRows(ds: DataSource, where: string, params: unknown[]) {
  return ds.query(
    `SELECT action, actor_id, partner_code, resource_id, subject_user_hash, outcome, http_status FROM audit_inbox WHERE ${where}
     UNION ALL SELECT action, actor_id, partner_code, resource_id, subject_user_hash, outcome, http_status FROM audit_events WHERE ${where}`,
    [...params, ...params],
  ) as Promise<Array<Record<string, any>>>;
}

describe('referral end to end', () => {
  let api: NestFastifyApplication;
  let worker: INestApplicationContext;
  let db: DataSource;
  let bank: PartnerBankClient;
  let otherBank: PartnerBankClient;
  let productCode: string;
  const [userId] = userIds(1);
  let referralId: string;

  beforeAll(async () => {
    api = await startHttpApp();
    await api.listen(0, '127.0.0.1');
    const address = api.getHttpServer().address() as { port: number };
    const baseUrl = `http://127.0.0.1:${address.port}`;
    worker = await startWorker();
    db = dataSourceOf(api);
    bank = new PartnerBankClient({ baseUrl, issuer: GATEWAY, clientId: uniqueCode('E2E') });
    otherBank = new PartnerBankClient({ baseUrl, issuer: GATEWAY, clientId: uniqueCode('OTHER') });
    await registerPartner(api, bank.options.clientId, await bank.publicJwks());
    await registerPartner(api, otherBank.options.clientId, await otherBank.publicJwks());
    productCode = await createProduct(api, bank.options.clientId, ALL_SHARED_FIELDS);
    await ingest(api, [userId]);
    const run = await prescreen(api, productCode);
    expect(run.counts).toMatchObject({ eligible: 1, offersCreated: 1 });
    referralId = await apply(api, userId, productCode);
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('delivers a verifiable referral file to the bank, once packaged by the worker', async () => {
    // Packaging runs in the worker (outbox → BullMQ); the bank learns of READY from its list (or its event feed).
    const listed = await eventually(
      async () => {
        const res = await bank.listReferrals({ status: 'READY' });
        return res.body.data?.find((r: { id: string }) => r.id === referralId);
      },
      20_000,
      100,
    );
    expect(listed).toEqual({ id: referralId, productCode, status: 'READY', createdAt: expect.any(String), expiresAt: expect.any(String) });
    const events = await db.query('SELECT event_type, txn FROM partner_events WHERE txn = ?', [referralId]);
    expect(events).toEqual([{ event_type: 'referral.ready', txn: referralId }]);

    const fetched = await bank.fetchReferral(referralId);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toMatchObject({ id: referralId, productCode, status: 'DELIVERED', file: expect.any(String) });

    const { header, claims } = await bank.verifyReferralFile(fetched.body.file, referralId);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'referral+jwt', kid: expect.any(String) });
    expect(claims).toMatchObject({ iss: GATEWAY, aud: bank.options.clientId, sub: referralId, jti: expect.any(String) });
    expect(claims.exp - claims.iat).toBe(365 * 86_400);
    const referral = claims.referral;
    expect(referral).toMatchObject({
      id: referralId,
      productCode,
      applicant: { userRef: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), name: 'Applicant 0', kycLevel: 2 },
      creditRecord: {
        asOf: '2026-11-20',
        score: 712,
        riskGrade: 'A',
        creditLimit: '15000.00',
        balance: '3200.50',
        accountOpenedAt: '2019-04-01',
        repayment: { onTimeCount24m: 22, overdueCount24m: 1, maxDpd24m: 12, currentDpd: 0 },
        consumption: { orders12m: TEST_COHORT, gmv12m: '42100.00', returnRate12m: 0.04, avgReviewScore: 4.8 },
      },
      prescreen: { runId: expect.stringMatching(/^run_/), evaluatedAt: expect.any(String), criteriaVersion: 1 },
      consent: {
        id: expect.stringMatching(/^cns_/),
        textVersion: 1,
        textSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        grantedAt: expect.any(String),
      },
    });
    // Nothing the product does not share, and nothing the API does not define, ever leaves.
    expect(Object.keys(referral.creditRecord.repayment)).not.toContain('overdueAmount');
    expect(Object.keys(referral.creditRecord.consumption)).not.toContain('topCategories');

    const ack = await bank.acknowledge(referralId);
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: referralId, status: 'ACKNOWLEDGED' });
    const again = await bank.acknowledge(referralId);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(ack.body);
  });

  it('records the fetch in the disclosure ledger and the audit trail, both visible to the right readers', async () => {
    const [row] = await db.query('SELECT kind, shared_fields, artefact_sha256, request_id FROM disclosures WHERE referral_id = ?', [
      rowKey(referralId),
    ]);
    const [file] = await db.query('SELECT file_sha256 FROM referrals WHERE id = ?', [rowKey(referralId)]);
    expect(row).toMatchObject({ kind: 'REFERRAL_FILE', artefact_sha256: file.file_sha256, request_id: expect.any(String) });

    const subject = api.get(AuditWriter).subjectHash(userId);
    const disclosed = await auditRows(db, "action = 'referral.file.disclosed' AND resource_id = ?", [referralId]);
    expect(disclosed).toEqual([
      expect.objectContaining({ actor_id: bank.options.clientId, subject_user_hash: subject, outcome: 'SUCCESS' }),
    ]);

    const mine = await inject(api, {
      method: 'GET',
      url: '/v1/me/disclosures',
      headers: { authorization: `Bearer ${platformToken(['user'], userId)}` },
    });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().data).toEqual([
      expect.objectContaining({
        partner: { code: bank.options.clientId, name: `Bank ${bank.options.clientId}` },
        kind: 'REFERRAL_FILE',
        referralId,
        sharedFields: ALL_SHARED_FIELDS,
      }),
    ]);

    const officer = `officer-${Date.now()}`;
    const compliance = await inject(api, {
      method: 'GET',
      url: `/v1/compliance/users/${userId}/disclosures`,
      headers: { authorization: `Bearer ${platformToken(['compliance'], officer)}` },
    });
    expect(compliance.statusCode).toBe(200);
    expect(compliance.json()).toEqual({ data: mine.json().data, nextCursor: null });
    expect(compliance.json().data[0]).toMatchObject({ id: expect.stringMatching(/^dsc_/), consentId: expect.stringMatching(/^cns_/) });
    // Reading it is itself audited.
    expect(await auditRows(db, "action = 'compliance.read' AND actor_id = ?", [officer])).toEqual([
      expect.objectContaining({ subject_user_hash: subject, outcome: 'SUCCESS' }),
    ]);
  });

  it('answers another bank 404, exactly like a missing referral, and audits the attempt', async () => {
    const foreign = await otherBank.fetchReferral(referralId);
    const missing = await otherBank.fetchReferral('ref_999999999');
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    const strip = (b: Record<string, unknown>) => ({ ...b, instance: undefined });
    expect(strip(foreign.body)).toEqual(strip(missing.body));
    expect((await otherBank.acknowledge(referralId)).status).toBe(404);
    expect((await otherBank.listReferrals()).body).toEqual({ data: [], nextCursor: null });

    const denied = await auditRows(db, "action = 'referral.access.denied' AND actor_id = ?", [otherBank.options.clientId]);
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({ resource_id: referralId, outcome: 'DENIED', http_status: 404 });
    // …besides the entry the auth layer writes for every partner call.
    const calls = await auditRows(db, "action = 'partner_api.call' AND actor_id = ? AND http_status = 404", [otherBank.options.clientId]);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    // No disclosure was recorded for the refused fetches.
    expect(
      await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE partner_id = (SELECT id FROM partners WHERE code = ?)', [
        otherBank.options.clientId,
      ]),
    ).toEqual([{ n: '0' }]);
  });
});
