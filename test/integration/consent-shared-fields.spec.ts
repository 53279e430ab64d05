import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { keyOf } from '../../src/common/public-id';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { dataSourceOf, startHttpApp, startWorker } from '../support/app';
import { adminHeaders, BankClient, inject, uniqueCode } from '../support/partner-client';
import { createProduct, ingest, prescreen, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Item 11 of the security review: what a referral file shares is never more than the consent text the applicant
 * agreed to. A PATCH that changes a product's sharedFields must change its consentText too (409 otherwise), so a new
 * consent text version comes with every new set of shared fields; an offer made before the change still applies
 * under the text it showed, and its file holds only that version's fields. Through the real server: operator API,
 * applicant API, packaging and the bank's fetch.
 */
jest.setTimeout(120_000);

const FIRST_FIELDS = ['applicant.name', 'creditRecord.score'];
const MORE_FIELDS = [...FIRST_FIELDS, 'applicant.nationalId'];
const ALWAYS = ['applicant.userRef', 'creditRecord.asOf'];

interface ConsentView {
  offerId: string;
  textVersion: number;
  textSha256: string;
  text: string;
  sharedFields: string[];
}

/** JSON columns come back as text or parsed, depending on the server. */
const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

/** The dotted paths of every value under `applicant` and `creditRecord` of a referral claim. */
function sharedPaths(referral: Record<string, any>): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
    else out.push(path);
  };
  walk(referral.applicant ?? {}, 'applicant');
  walk(referral.creditRecord ?? {}, 'creditRecord');
  return out;
}

/** A path is covered when the consent lists it or a member above it (a path takes its member and all under it). */
const covered = (path: string, listed: string[]) => [...listed, ...ALWAYS].some((l) => path === l || path.startsWith(`${l}.`));

describe('shared fields and the consent text', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let productCode: string;
  const [early, late] = userIds(2);

  const patch = (payload: object) =>
    inject(api, { method: 'PATCH', url: `/v1/admin/card-products/${productCode}`, headers: adminHeaders(), payload });
  const versions = async () =>
    (
      await db.query(
        `SELECT v.version, v.text_version, v.shared_fields
           FROM card_product_versions v JOIN card_products p ON p.id = v.product_id WHERE p.code = ? ORDER BY v.version`,
        [productCode],
      )
    ).map((r: { version: number; text_version: number; shared_fields: unknown }) => ({
      version: r.version,
      textVersion: r.text_version,
      sharedFields: json(r.shared_fields),
    }));

  async function consentOf(userId: string): Promise<ConsentView> {
    const offers = (await inject(api, { method: 'GET', url: '/v1/me/offers', headers: userHeaders(userId) })).json().data;
    const offer = offers.find((o: { productCode: string }) => o.productCode === productCode);
    return (await inject(api, { method: 'GET', url: `/v1/me/offers/${offer.id}/consent`, headers: userHeaders(userId) })).json();
  }

  const apply = (userId: string, offerId: string, consent: { textVersion: number; textSha256: string }) =>
    inject(api, {
      method: 'POST',
      url: '/v1/me/applications',
      headers: userHeaders(userId),
      payload: { offerId, consent: { textVersion: consent.textVersion, textSha256: consent.textSha256, accepted: true } },
    });

  /** Packages the referral and fetches it as the bank; returns the file's `referral` claim. */
  async function fileOf(referralId: string): Promise<Record<string, any>> {
    await api.get(ReferralPackagingProcessor).package({ referralId: keyOf('ref', referralId)!, correlationId: 'test' });
    const token = await bank.accessToken(api);
    const res = await inject(api, {
      method: 'GET',
      url: `/partner/v1/referrals/${referralId}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBe(200);
    return JSON.parse(Buffer.from(res.json().file.split('.')[1], 'base64url').toString('utf8')).referral;
  }

  async function prescreenWithWorker() {
    const worker = await startWorker();
    try {
      await prescreen(api, productCode);
    } finally {
      await worker.close();
    }
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('CSF'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    productCode = await createProduct(api, bank.code, FIRST_FIELDS);
    await ingest(api, [early]);
    await prescreenWithWorker();
  });

  afterAll(async () => {
    await api?.close();
  });

  it('refuses a sharedFields change without a new consent text (409 naming consentText); the product is unchanged', async () => {
    const oldText = (await consentOf(early)).text;
    for (const body of [{ sharedFields: MORE_FIELDS }, { sharedFields: MORE_FIELDS, consentText: oldText }]) {
      const res = await patch(body);
      expect(res.statusCode).toBe(409);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        type: 'https://errors.referral-gateway.dev/consent-text-unchanged',
        status: 409,
        errors: [{ field: 'consentText', message: expect.any(String) }],
      });
    }
    expect(await versions()).toEqual([{ version: 1, textVersion: 1, sharedFields: FIRST_FIELDS }]);
  });

  it('shares with an offer made before the change only what its consent text listed, and new offers only under the new text', async () => {
    const before = await consentOf(early);
    expect(before).toMatchObject({ textVersion: 1, sharedFields: FIRST_FIELDS });

    const newText = `I agree that ${MORE_FIELDS.join(', ')} are shared with the bank to decide on my card application.`;
    const changed = await patch({ sharedFields: MORE_FIELDS, consentText: newText });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ version: 2, textVersion: 2, sharedFields: MORE_FIELDS });
    // Every text version stands for exactly one set of shared fields.
    expect(await versions()).toEqual([
      { version: 1, textVersion: 1, sharedFields: FIRST_FIELDS },
      { version: 2, textVersion: 2, sharedFields: MORE_FIELDS },
    ]);

    // The offer made before the change still shows, and applies under, the text it was made with.
    expect(await consentOf(early)).toEqual(before);
    const earlyApplied = await apply(early, before.offerId, before);
    expect(earlyApplied.statusCode).toBe(201);
    const earlyFile = await fileOf(earlyApplied.json().id);
    expect(earlyFile.consent).toMatchObject({ textVersion: 1, textSha256: before.textSha256 });
    expect(earlyFile.applicant).not.toHaveProperty('nationalId');
    expect(sharedPaths(earlyFile).filter((p) => !covered(p, before.sharedFields))).toEqual([]);

    // An offer made after the change shows the new text; the old text is stale for it.
    await ingest(api, [late]);
    await prescreenWithWorker();
    const after = await consentOf(late);
    expect(after).toMatchObject({ textVersion: 2, text: newText, sharedFields: MORE_FIELDS });
    const stale = await apply(late, after.offerId, before);
    expect(stale.statusCode).toBe(409);
    expect(stale.json().type).toBe('https://errors.referral-gateway.dev/consent-text-mismatch');
    const lateApplied = await apply(late, after.offerId, after);
    expect(lateApplied.statusCode).toBe(201);
    const lateFile = await fileOf(lateApplied.json().id);
    expect(lateFile.consent).toMatchObject({ textVersion: 2, textSha256: after.textSha256 });
    expect(lateFile.applicant).toHaveProperty('nationalId');
    expect(sharedPaths(lateFile).filter((p) => !covered(p, after.sharedFields))).toEqual([]);

    // What each consent row recorded is what its applicant was shown.
    const consents = await db.query(
      'SELECT c.text_version, c.shared_fields FROM consents c JOIN referrals r ON r.consent_id = c.id WHERE r.id IN (?) ORDER BY r.id',
      [[keyOf('ref', earlyApplied.json().id), keyOf('ref', lateApplied.json().id)]],
    );
    expect(consents.map((c: { text_version: number; shared_fields: unknown }) => [c.text_version, json(c.shared_fields)])).toEqual([
      [1, FIRST_FIELDS],
      [2, MORE_FIELDS],
    ]);
  });
});
