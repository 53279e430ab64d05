import { Injectable } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TimelineAuditRef, TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { jsonColumn } from '../../infra/database/json-column';
import {
  APPLICATION_STATE_KIND,
  ApplicationsRepository,
  CONSENT_GRANTED_KIND,
  CONSENT_REVOKED_KIND,
  ReferralStateRow,
} from './applications.repository';

/** The audit action recorded when a referral enters a status (where one names the referral). */
const ACTION_OF_STATUS: Record<string, string> = {
  PACKAGING: 'application.submitted',
  READY: 'referral.packaged',
  DELIVERED: 'referral.file.disclosed',
  ACKNOWLEDGED: 'referral.acknowledged',
  PENDING_REVIEW: 'referral.decided',
  APPROVED: 'referral.decided',
  DECLINED: 'referral.decided',
  WITHDRAWN: 'application.withdrawn',
};

const referralAudit = (action: string | undefined, referralKey: string | null): TimelineAuditRef | undefined =>
  action && referralKey ? { action, resourceType: 'referral', resourceId: toPublicId('ref', referralKey) } : undefined;

/**
 * The applicant's side of a compliance timeline: consents granted and revoked, and every state of every application
 * (referral_timeline, whoever moved it: the user, packaging, the bank, the SLA).
 */
@Injectable()
export class ApplicationsTimeline implements TimelineSource {
  constructor(private readonly repo: ApplicationsRepository) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const granted = await this.repo.consentTimelineOfUser(userId, false, after, limit);
    const revoked = await this.repo.consentTimelineOfUser(userId, true, after, limit);
    const states = await this.repo.referralTimelineOfUser(userId, after, limit);
    return [
      ...granted.map((c): TimelineEntry => ({
        at: new Date(c.at),
        kind: CONSENT_GRANTED_KIND,
        id: String(c.id),
        partner: c.partner_code,
        ...(c.referral_id !== null ? { referralId: toPublicId('ref', c.referral_id) } : {}),
        summary:
          `Consent to share ${jsonColumn<string[]>(c.shared_fields).join(', ')} for ${c.product_code} ` +
          `(text version ${c.text_version}, kept ${c.retention_days} days after a decline)`,
        // The consent is recorded with the application it was given for.
        audit: referralAudit('application.submitted', c.referral_id === null ? null : String(c.referral_id)),
      })),
      ...revoked.map((c): TimelineEntry => ({
        at: new Date(c.at),
        kind: CONSENT_REVOKED_KIND,
        id: String(c.id),
        partner: c.partner_code,
        ...(c.referral_id !== null ? { referralId: toPublicId('ref', c.referral_id) } : {}),
        summary: `Consent for ${c.product_code} revoked`,
        audit: { action: 'consent.revoked', resourceType: 'consent', resourceId: toPublicId('cns', c.id) },
      })),
      ...states.map((s) => stateEntry(s)),
    ];
  }
}

function stateEntry(s: ReferralStateRow): TimelineEntry {
  const move = s.from_status === null ? `submitted (${s.to_status})` : `${s.from_status} → ${s.to_status}`;
  return {
    at: new Date(s.at),
    kind: APPLICATION_STATE_KIND,
    id: String(s.id),
    partner: s.partner_code,
    referralId: toPublicId('ref', s.referral_id),
    summary: `Application for ${s.product_code}: ${move} by ${s.actor_type}${s.note ? ` (${s.note})` : ''}`,
    audit: referralAudit(ACTION_OF_STATUS[s.to_status], String(s.referral_id)),
  };
}
