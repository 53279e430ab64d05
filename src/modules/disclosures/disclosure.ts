/** What left for a partner: a referral file (fetched or pushed) or an overdue report. */
export const DISCLOSURE_KINDS = ['REFERRAL_FILE', 'REFERRAL_PUSH', 'OVERDUE_REPORT'] as const;
export type DisclosureKind = (typeof DISCLOSURE_KINDS)[number];

export interface NewDisclosure {
  userId: string;
  partnerId: string;
  consentId?: string;
  referralId?: string;
  kind: DisclosureKind;
  /** The field paths shared (never their values). */
  sharedFields: string[];
  /** Hex SHA-256 of exactly what left (the JWS compact text). */
  artefactSha256?: string;
  requestId?: string;
}

/** One disclosure as the applicant (/v1/me/disclosures) and compliance see it. */
export interface DisclosureView {
  id: string;
  partner: { code: string; name: string };
  kind: DisclosureKind;
  referralId?: string;
  consentId?: string;
  sharedFields: string[];
  disclosedAt: string;
}
