import { PartnerBankClient } from '../../support/bank-client';
import { adminHeaders, GATEWAY, platformToken, uniqueCode } from '../../support/partner-client';
import { ALL_SHARED_FIELDS, apply, createProduct, ingest, prescreen, userIds } from '../../support/referral-flow';
import { send } from './http';
import { socketApp } from './http';

/** One partner bank with a product, and applicants whose referrals it receives. */
export interface Cohort {
  bank: PartnerBankClient;
  partnerCode: string;
  productCode: string;
  users: string[];
  /** Public referral ids, in user order. */
  referrals: string[];
}

/**
 * Onboards a partner (optionally with a push endpoint) and a product, ingests `n` applicants' records, pre-screens
 * them (a worker process must run) and, unless `applyNow` is false, applies for each: all through the api process's
 * public HTTP API, as operators, the platform and applicants do.
 */
export async function onboard(
  apiBaseUrl: string,
  n: number,
  opts: { pushEndpoint?: string; applyNow?: boolean; prefix?: string } = {},
): Promise<Cohort> {
  const app = socketApp(apiBaseUrl);
  const partnerCode = uniqueCode(opts.prefix ?? 'FLT');
  const bank = new PartnerBankClient({ baseUrl: apiBaseUrl, issuer: GATEWAY, clientId: partnerCode });
  const registered = await send(apiBaseUrl, 'POST', '/v1/admin/partners', {
    headers: adminHeaders(),
    body: {
      code: partnerCode,
      name: `Bank ${partnerCode}`,
      jwks: await bank.publicJwks(),
      ...(opts.pushEndpoint ? { pushEndpoint: opts.pushEndpoint } : {}),
    },
  });
  if (registered.status !== 201) throw new Error(`partner registration: ${registered.status} ${registered.body}`);
  const productCode = await createProduct(app, partnerCode, ALL_SHARED_FIELDS);
  const users = userIds(n);
  await ingest(app, users);
  await prescreen(app, productCode);
  const cohort: Cohort = { bank, partnerCode, productCode, users, referrals: [] };
  if (opts.applyNow !== false) await applyAll(apiBaseUrl, cohort);
  return cohort;
}

/** Every applicant of the cohort applies (one after the other, as distinct users do). */
export async function applyAll(apiBaseUrl: string, cohort: Cohort): Promise<void> {
  const app = socketApp(apiBaseUrl);
  for (const user of cohort.users) cohort.referrals.push(await apply(app, user, cohort.productCode));
}

export const complianceHeaders = () => ({ authorization: `Bearer ${platformToken(['compliance'])}` });

/** A decision body as a bank sends it. */
export function decisionBody(decision: 'APPROVED' | 'DECLINED' | 'PENDING_REVIEW', extra: Record<string, unknown> = {}) {
  return { decision, decidedAt: new Date().toISOString(), ...extra };
}

export { ALL_SHARED_FIELDS };
