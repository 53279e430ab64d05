import { createHash } from 'node:crypto';

import { CriteriaRule, DelinquencyScope } from '../prescreening/criteria';

/** Product codes: like partner codes, a little longer (`XB-PLATINUM`). */
export const CARD_PRODUCT_CODE = /^[A-Z0-9_-]{2,64}$/;

export const CARD_PRODUCT_STATUSES = ['ACTIVE', 'SUSPENDED'] as const;
export type CardProductStatus = (typeof CARD_PRODUCT_STATUSES)[number];

export const CARD_PRODUCT_DEFAULTS = {
  retentionDays: 365,
  decisionSlaHours: 72,
  dailyReferralCap: null,
  offerTtlDays: 30,
  status: 'ACTIVE',
  delinquencyScope: 'ANY_PARTNER',
} as const;

/**
 * What a product may share with its partner: dotted paths into the referral file's `applicant` and
 * `creditRecord` (API.md); a path takes that member and everything under it. `applicant.userRef` and
 * `creditRecord.asOf` are always in the file and so are not listed.
 */
export const SHARED_FIELD_PATHS = [
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
  'creditRecord.repayment.onTimeCount24m',
  'creditRecord.repayment.overdueCount24m',
  'creditRecord.repayment.maxDpd24m',
  'creditRecord.repayment.currentDpd',
  'creditRecord.consumption',
  'creditRecord.consumption.orders12m',
  'creditRecord.consumption.gmv12m',
  'creditRecord.consumption.returnRate12m',
  'creditRecord.consumption.avgReviewScore',
] as const;
export type SharedFieldPath = (typeof SHARED_FIELD_PATHS)[number];

/** Everything a version fixes: the criteria, what is shared and under which consent text, and the terms. */
export interface CardProductDefinition {
  status: CardProductStatus;
  name: string;
  criteria: CriteriaRule[];
  sharedFields: SharedFieldPath[];
  consentText: string;
  /**
   * Grows by one only when consentText changes; with textSha256 it is what a user consents to. A change of sharedFields
   * must come with a new consentText (409 otherwise), so each text version stands for exactly one set of shared fields.
   */
  textVersion: number;
  /** Hex SHA-256 of consentText in UTF-8. */
  textSha256: string;
  purpose: string;
  retentionDays: number;
  decisionSlaHours: number;
  dailyReferralCap: number | null;
  offerTtlDays: number;
  delinquencyScope: DelinquencyScope;
}

/** One immutable version of a product. Offers pin (productId, version); `version` is the referral's criteriaVersion. */
export interface CardProductVersion extends CardProductDefinition {
  productId: string;
  code: string;
  partnerId: string;
  partnerCode: string;
  version: number;
  /** Whether this is the product's current version. */
  current: boolean;
  /** When the product was first created. */
  createdAt: Date;
  /** When this version was made. */
  versionCreatedAt: Date;
}

export interface CardProductView extends CardProductDefinition {
  code: string;
  partnerCode: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export function toCardProductView(p: CardProductVersion): CardProductView {
  return {
    code: p.code,
    partnerCode: p.partnerCode,
    version: p.version,
    status: p.status,
    name: p.name,
    criteria: p.criteria,
    sharedFields: p.sharedFields,
    consentText: p.consentText,
    textVersion: p.textVersion,
    textSha256: p.textSha256,
    purpose: p.purpose,
    retentionDays: p.retentionDays,
    decisionSlaHours: p.decisionSlaHours,
    dailyReferralCap: p.dailyReferralCap,
    offerTtlDays: p.offerTtlDays,
    delinquencyScope: p.delinquencyScope,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.versionCreatedAt.toISOString(),
  };
}
