/**
 * The referral state machine (API.md "Referral states"): one table of allowed moves, enforced in the database by
 * conditional updates (ReferralTransitions.move), so concurrent callers cannot take a referral backwards.
 * PACKAGING is internal: the referral exists, its file is being built; partners never see it.
 */
export const REFERRAL_STATUSES = [
  'PACKAGING',
  'READY',
  'DELIVERED',
  'ACKNOWLEDGED',
  'PENDING_REVIEW',
  'APPROVED',
  'DECLINED',
  'WITHDRAWN',
  'EXPIRED',
] as const;
export type ReferralStatus = (typeof REFERRAL_STATUSES)[number];

export const FINAL_STATUSES: readonly ReferralStatus[] = ['APPROVED', 'DECLINED', 'WITHDRAWN', 'EXPIRED'];
export const isFinal = (s: ReferralStatus) => FINAL_STATUSES.includes(s);

/** Statuses a partner can see (and list, fetch, acknowledge, decide on). */
export const PARTNER_VISIBLE: readonly ReferralStatus[] = REFERRAL_STATUSES.filter((s) => s !== 'PACKAGING');

/** to ← allowed from. */
export const ALLOWED_FROM: Record<ReferralStatus, readonly ReferralStatus[]> = {
  PACKAGING: [],
  READY: ['PACKAGING'],
  DELIVERED: ['READY'],
  ACKNOWLEDGED: ['DELIVERED'],
  PENDING_REVIEW: ['DELIVERED', 'ACKNOWLEDGED'],
  APPROVED: ['DELIVERED', 'ACKNOWLEDGED', 'PENDING_REVIEW'],
  DECLINED: ['DELIVERED', 'ACKNOWLEDGED', 'PENDING_REVIEW'],
  WITHDRAWN: ['PACKAGING', 'READY', 'DELIVERED', 'ACKNOWLEDGED', 'PENDING_REVIEW'],
  EXPIRED: ['PACKAGING', 'READY', 'DELIVERED', 'ACKNOWLEDGED', 'PENDING_REVIEW'],
};
