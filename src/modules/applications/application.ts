import { toPublicId } from '../../common/public-id';
import { ReferralStatus } from '../referrals/referral-state';

/** An applicant's referral as stored, with its partner and product named. */
export interface Application {
  id: string;
  userId: string;
  partnerId: string;
  partnerCode: string;
  partnerName: string;
  productCode: string;
  offerId: string;
  consentId: string;
  status: ReferralStatus;
  decision: Record<string, unknown> | null;
  createdAt: Date;
  expiresAt: Date;
}

export interface TimelineEntry {
  from: ReferralStatus | null;
  to: ReferralStatus;
  actorType: string;
  note: string | null;
  at: Date;
}

export interface Consent {
  id: string;
  userId: string;
  partnerCode: string;
  partnerName: string;
  productCode: string;
  productVersion: number;
  textVersion: number;
  textSha256: string;
  purpose: string;
  sharedFields: string[];
  retentionDays: number;
  status: 'ACTIVE' | 'REVOKED';
  grantedAt: Date;
  revokedAt: Date | null;
  referralId: string | null;
}

/** What the bank decided, as the applicant sees it (only the members API.md defines for a decision). */
const DECISION_MEMBERS = ['decision', 'decidedAt', 'creditLimit', 'cardLast4', 'declineReasons'] as const;

export interface ApplicationView {
  id: string;
  status: ReferralStatus;
  productCode: string;
  partner: { code: string; name: string };
  offerId: string;
  consentId: string;
  createdAt: string;
  expiresAt: string;
  decision?: Record<string, unknown>;
}

export const toApplicationView = (a: Application): ApplicationView => {
  const view: ApplicationView = {
    id: toPublicId('ref', a.id),
    status: a.status,
    productCode: a.productCode,
    partner: { code: a.partnerCode, name: a.partnerName },
    offerId: toPublicId('ofr', a.offerId),
    consentId: toPublicId('cns', a.consentId),
    createdAt: a.createdAt.toISOString(),
    expiresAt: a.expiresAt.toISOString(),
  };
  if (a.decision) {
    view.decision = Object.fromEntries(DECISION_MEMBERS.filter((k) => a.decision![k] !== undefined).map((k) => [k, a.decision![k]]));
  }
  return view;
};

export interface ApplicationDetailView extends ApplicationView {
  /** Every state change, oldest first; `by` names the kind of actor only (never a person or a partner user). */
  timeline: { from: ReferralStatus | null; status: ReferralStatus; by: string; at: string }[];
}

export const toApplicationDetailView = (a: Application, timeline: TimelineEntry[]): ApplicationDetailView => ({
  ...toApplicationView(a),
  timeline: timeline.map((t) => ({ from: t.from, status: t.to, by: t.actorType, at: t.at.toISOString() })),
});

export interface ConsentView {
  id: string;
  partner: { code: string; name: string };
  productCode: string;
  textVersion: number;
  textSha256: string;
  purpose: string;
  sharedFields: string[];
  retentionDays: number;
  status: 'ACTIVE' | 'REVOKED';
  grantedAt: string;
  revokedAt: string | null;
  referralId: string | null;
}

export const toConsentView = (c: Consent): ConsentView => ({
  id: toPublicId('cns', c.id),
  partner: { code: c.partnerCode, name: c.partnerName },
  productCode: c.productCode,
  textVersion: c.textVersion,
  textSha256: c.textSha256,
  purpose: c.purpose,
  sharedFields: c.sharedFields,
  retentionDays: c.retentionDays,
  status: c.status,
  grantedAt: c.grantedAt.toISOString(),
  revokedAt: c.revokedAt ? c.revokedAt.toISOString() : null,
  referralId: c.referralId ? toPublicId('ref', c.referralId) : null,
});
