import { randomBytes, randomInt } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';

import { eventually, startWorker } from './app';
import { adminHeaders, inject, platformToken, uniqueCode } from './partner-client';

/**
 * The steps before a referral exists, each through the gateway's public HTTP API as its real callers make them:
 * operator onboards a partner and a product, the platform ingests credit records, a pre-screen run makes offers
 * (a worker must be running), the applicant reads the consent text and applies.
 */
export const ALL_SHARED_FIELDS = [
  'applicant.name',
  'applicant.nationalId',
  'applicant.phone',
  'applicant.kycLevel',
  'creditRecord.score',
  'creditRecord.riskGrade',
  'creditRecord.creditLimit',
  'creditRecord.balance',
  'creditRecord.accountOpenedAt',
  'creditRecord.repayment',
  'creditRecord.consumption',
];

/**
 * The suite shares one database, so other specs' users are there too. Every user made here carries this spec's
 * cohort mark (orders12m) and every product requires it: a pre-screen here makes offers to this spec's users only.
 */
export const TEST_COHORT = 100_000 + randomInt(800_000);
export const COHORT_RULE = { field: 'consumption.orders12m', op: '=', value: TEST_COHORT, reason: 'OUTSIDE_TEST_COHORT' };

/** Distinct identities per user: the anti-fraud rule refuses one identity behind several applying accounts. */
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');

export const userIds = (n: number) => {
  const prefix = `rf${randomBytes(3).toString('hex')}_`;
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
};

/** A credit record line (API.md) of a user of this spec's cohort who passes `score >= 600`. */
export function creditRecordLine(userId: string, i = 0) {
  return {
    userId,
    asOf: '2026-11-20',
    identity: { name: `Applicant ${i}`, nationalId: `110105${digits(12)}`, phone: `+86138${digits(8)}`, kycLevel: 2 },
    score: 712,
    riskGrade: 'A',
    creditLimit: '15000.00',
    balance: '3200.50',
    accountOpenedAt: '2019-04-01',
    repayment: { onTimeCount24m: 22, overdueCount24m: 1, maxDpd24m: 12, currentDpd: 0, overdueAmount: '0.00' },
    consumption: {
      orders12m: TEST_COHORT,
      gmv12m: '42100.00',
      returnRate12m: 0.04,
      avgReviewScore: 4.8,
      topCategories: ['3C'],
      addressStable12m: true,
    },
    device: { accountsOnDevice: 1 },
  };
}

export async function registerPartner(api: NestFastifyApplication, code: string, jwks: { keys: object[] }) {
  const res = await inject(api, {
    method: 'POST',
    url: '/v1/admin/partners',
    headers: adminHeaders(),
    payload: { code, name: `Bank ${code}`, jwks },
  });
  if (res.statusCode !== 201) throw new Error(`partner registration: ${res.statusCode} ${res.body}`);
}

/** A card product for this spec's cohort; `extra` overrides or adds body members (e.g. decisionSlaHours). */
export async function createProduct(
  api: NestFastifyApplication,
  partnerCode: string,
  sharedFields: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const code = uniqueCode('CARD');
  const res = await inject(api, {
    method: 'POST',
    url: '/v1/admin/card-products',
    headers: adminHeaders(),
    payload: {
      code,
      partnerCode,
      name: `Card ${code}`,
      criteria: [{ field: 'score', op: '>=', value: 600, reason: 'SCORE_TOO_LOW' }, COHORT_RULE],
      sharedFields,
      consentText: `I agree that ${sharedFields.join(', ')} are shared with the bank to decide on my card application.`,
      purpose: 'credit card application decision',
      ...extra,
    },
  });
  if (res.statusCode !== 201) throw new Error(`product: ${res.statusCode} ${res.body}`);
  return code;
}

export async function ingest(api: NestFastifyApplication, users: string[], recordsAsOf?: string) {
  const res = await inject(api, {
    method: 'POST',
    url: '/v1/platform/credit-records',
    headers: { authorization: `Bearer ${platformToken(['platform'])}` },
    payload: users.map((u, i) => ({ ...creditRecordLine(u, i), ...(recordsAsOf ? { asOf: recordsAsOf } : {}) })),
  });
  if (res.statusCode !== 200 || res.json().rejected.length) throw new Error(`ingest: ${res.statusCode} ${res.body}`);
}

/** Starts a pre-screen run and waits for it to complete (needs a worker). */
export async function prescreen(api: NestFastifyApplication, productCode: string) {
  const res = await inject(api, {
    method: 'POST',
    url: `/v1/admin/card-products/${productCode}/prescreen-runs`,
    headers: adminHeaders(),
    payload: {},
  });
  if (res.statusCode !== 202) throw new Error(`prescreen: ${res.statusCode} ${res.body}`);
  const id = res.json().id as string;
  return eventually(
    async () => {
      const run = (await inject(api, { method: 'GET', url: `/v1/admin/prescreen-runs/${id}`, headers: adminHeaders() })).json();
      if (run.status === 'FAILED') throw new Error('prescreen run failed');
      return run.status === 'COMPLETED' ? run : undefined;
    },
    30_000,
    100,
  );
}

/**
 * Ingests the users' records, pre-screens the product with a worker of its own (stopped afterwards, so the referrals
 * stay PACKAGING until the test packages them) and applies for every user. Returns the referral ids, in user order.
 */
export async function applyAfterPrescreen(
  api: NestFastifyApplication,
  users: string[],
  productCode: string,
  recordsAsOf?: string,
): Promise<string[]> {
  await ingest(api, users, recordsAsOf);
  const worker = await startWorker();
  try {
    await prescreen(api, productCode);
  } finally {
    await worker.close();
  }
  const referrals: string[] = [];
  for (const u of users) referrals.push(await apply(api, u, productCode));
  return referrals;
}

export const userHeaders = (userId: string) => ({ authorization: `Bearer ${platformToken(['user'], userId)}` });

/** The applicant's side: find the offer, read its consent text, consent and apply. Returns the referral id. */
export async function apply(api: NestFastifyApplication, userId: string, productCode: string): Promise<string> {
  const offers = await inject(api, { method: 'GET', url: '/v1/me/offers', headers: userHeaders(userId) });
  const offer = offers.json().data.find((o: { productCode: string }) => o.productCode === productCode);
  if (!offer) throw new Error(`no offer for ${userId}: ${offers.body}`);
  const consent = (await inject(api, { method: 'GET', url: `/v1/me/offers/${offer.id}/consent`, headers: userHeaders(userId) })).json();
  const res = await inject(api, {
    method: 'POST',
    url: '/v1/me/applications',
    headers: userHeaders(userId),
    payload: { offerId: offer.id, consent: { textVersion: consent.textVersion, textSha256: consent.textSha256, accepted: true } },
  });
  if (res.statusCode !== 201) throw new Error(`apply: ${res.statusCode} ${res.body}`);
  return res.json().id as string;
}
