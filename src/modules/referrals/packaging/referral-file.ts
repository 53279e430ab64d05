/**
 * The `referral` claim of a referral file (API.md "Signed artefacts"), built from the pinned snapshot and nothing
 * else. Pure: everything it needs comes in, so what is shared can be tested without a database.
 */
export interface SnapshotFacts {
  asOf: string;
  identity: { name: string; nationalId: string; phone: string };
  kycLevel: number | null;
  score: number | null;
  riskGrade: string | null;
  creditLimit: string | null;
  balance: string | null;
  accountOpenedAt: string | null;
  onTimeCount24m: number | null;
  overdueCount24m: number | null;
  maxDpd24m: number | null;
  currentDpd: number | null;
  orders12m: number | null;
  gmv12m: string | null;
  returnRate12m: number | null;
  avgReviewScore: number | null;
}

export interface ReferralFileInput {
  referralId: string;
  productCode: string;
  createdAt: Date;
  userRef: string;
  snapshot: SnapshotFacts;
  prescreen: { runId: string; evaluatedAt: Date; criteriaVersion: number };
  consent: { id: string; textVersion: number; textSha256: string; grantedAt: Date };
  /** The product version's sharedFields: dotted paths under `applicant` / `creditRecord`. */
  sharedFields: readonly string[];
}

type Json = Record<string, unknown>;

/** Always in the file, whatever the product shares (API.md). */
const ALWAYS = ['applicant.userRef', 'creditRecord.asOf'];

export function buildReferralClaim(input: ReferralFileInput): Json {
  const s = input.snapshot;
  // Everything the file could ever hold, in API.md's shape; pickPaths keeps only what is shared.
  const full: Json = {
    applicant: {
      userRef: input.userRef,
      name: s.identity.name,
      nationalId: s.identity.nationalId,
      phone: s.identity.phone,
      kycLevel: s.kycLevel,
    },
    creditRecord: {
      asOf: s.asOf,
      score: s.score,
      riskGrade: s.riskGrade,
      creditLimit: s.creditLimit,
      balance: s.balance,
      accountOpenedAt: s.accountOpenedAt,
      repayment: { onTimeCount24m: s.onTimeCount24m, overdueCount24m: s.overdueCount24m, maxDpd24m: s.maxDpd24m, currentDpd: s.currentDpd },
      consumption: { orders12m: s.orders12m, gmv12m: s.gmv12m, returnRate12m: s.returnRate12m, avgReviewScore: s.avgReviewScore },
    },
  };
  const shared = pickPaths(full, [...ALWAYS, ...input.sharedFields]);
  return {
    id: input.referralId,
    productCode: input.productCode,
    createdAt: rfc3339(input.createdAt),
    applicant: shared.applicant,
    creditRecord: shared.creditRecord,
    prescreen: {
      runId: input.prescreen.runId,
      evaluatedAt: rfc3339(input.prescreen.evaluatedAt),
      criteriaVersion: input.prescreen.criteriaVersion,
    },
    consent: {
      id: input.consent.id,
      textVersion: input.consent.textVersion,
      textSha256: input.consent.textSha256,
      grantedAt: rfc3339(input.consent.grantedAt),
    },
  };
}

/**
 * A copy of `source` holding only the given dotted paths; a path takes its member and everything under it. A path
 * that names nothing in `source` is refused: a typo must not silently share less (or, worse, be ignored in review).
 */
export function pickPaths(source: Json, paths: readonly string[]): Json {
  const out: Json = {};
  for (const path of paths) {
    const parts = path.split('.');
    let from: unknown = source;
    let to = out;
    parts.forEach((part, i) => {
      if (!from || typeof from !== 'object' || !(part in (from as Json)))
        throw new Error(`shared field ${path} is not a referral file path`);
      const value = (from as Json)[part];
      if (i === parts.length - 1) to[part] = structuredClone(value);
      else {
        if (!to[part] || typeof to[part] !== 'object') to[part] = {};
        to = to[part] as Json;
        from = value;
      }
    });
  }
  return out;
}

/** RFC 3339 in UTC with milliseconds, as every other time the gateway hands out. */
export const rfc3339 = (d: Date) => d.toISOString();
