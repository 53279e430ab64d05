import { Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { toPublicId } from '../../../common/public-id';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { JobHandler } from '../../../infra/queues/job-handler.decorator';
import { BasePayload } from '../../../infra/queues/job-catalogue';
import { AuditWriter } from '../../audit/audit.writer';
import { IdentityProtector } from '../../credit-records/identity-protector';
import { PartnerEvents } from '../../events/partner-events.service';
import { SigningService } from '../../signing/signing.service';
import { ReferralTransitions } from '../referral-transitions';
import { buildReferralClaim, SnapshotFacts } from './referral-file';
import { PackagingRow, ReferralPackagingRepository, SnapshotRow } from './referral-packaging.repository';

const DAY_SECONDS = 86_400;

/**
 * `referrals/referral.package`: builds the referral file from the pinned snapshot, signs it, stores it with its
 * digest, moves PACKAGING → READY and emits referral.ready — one transaction, so a redelivered job (BullMQ is at
 * least once) finds READY under the row lock and does nothing: one file, one event.
 *
 * The file's `exp` is the consent's retention (grantedAt is close to now; we count from signing): how long the bank
 * may rely on and keep the file under the consent. The signing key stays in the JWKS until then (signed_until).
 */
@Injectable()
export class ReferralPackagingProcessor {
  private readonly logger = new Logger(ReferralPackagingProcessor.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: ReferralPackagingRepository,
    private readonly transitions: ReferralTransitions,
    private readonly identities: IdentityProtector,
    private readonly signing: SigningService,
    private readonly events: PartnerEvents,
    private readonly audit: AuditWriter,
  ) {}

  @JobHandler('referrals', 'referral.package')
  async package(payload: BasePayload & { referralId: string }): Promise<{ outcome: string }> {
    return this.tx.run(async (m) => {
      const r = await this.repository.lockForPackaging(m, payload.referralId);
      // A missing referral cannot appear later (the outbox row commits with it): nothing to retry.
      if (!r) return { outcome: 'missing' };
      if (r.status !== 'PACKAGING') return { outcome: r.status === 'WITHDRAWN' || r.status === 'EXPIRED' ? 'closed' : 'already-packaged' };
      // A consent revoked before packaging: nothing may be built under it (the applicant module withdraws the referral).
      if (r.consent_status !== 'ACTIVE') return { outcome: 'consent-revoked' };
      const snapshot = await this.repository.snapshot(m, r.user_id, r.record_version);
      if (!snapshot) throw new Error(`referral ${r.id}: pinned credit record snapshot is missing`);

      const referralId = toPublicId('ref', r.id);
      const claim = buildReferralClaim({
        referralId,
        productCode: r.product_code,
        createdAt: new Date(r.created_at),
        userRef: r.user_ref,
        snapshot: this.facts(r.user_id, snapshot),
        prescreen: { runId: toPublicId('run', r.run_id), evaluatedAt: new Date(r.offer_created_at), criteriaVersion: Number(r.product_version) },
        consent: { id: toPublicId('cns', r.consent_id), textVersion: Number(r.text_version), textSha256: r.text_sha256, grantedAt: new Date(r.granted_at) },
        sharedFields: sharedFieldsOf(r),
      });
      const signed = await this.signing.sign('referral', { referral: claim }, {
        audience: r.partner_code,
        subject: referralId,
        expiresInSeconds: Number(r.retention_days) * DAY_SECONDS,
      });
      const sha256 = createHash('sha256').update(signed.token, 'ascii').digest('hex');
      const moved = await this.transitions.move(m, r.id, 'READY', { type: 'system', id: 'packaging' }, {
        set: { file_jws: signed.token, file_sha256: sha256, file_kid: signed.kid, file_jti: signed.jti, file_expires_at: signed.expiresAt },
      });
      if (!moved.moved) throw new Error(`referral ${r.id}: PACKAGING -> READY refused from ${moved.from}`);
      await this.events.emit(m, {
        partnerId: r.partner_id,
        type: 'referral.ready',
        txn: referralId,
        dedupeKey: `referral.ready:${r.id}`,
        payload: { referralId, productCode: r.product_code, status: 'READY', createdAt: new Date(r.created_at).toISOString(), expiresAt: new Date(r.expires_at).toISOString() },
      });
      await this.audit.append(
        {
          actorType: 'system',
          actorId: 'packaging',
          action: 'referral.packaged',
          resourceType: 'referral',
          resourceId: referralId,
          subjectUserHash: this.audit.subjectHash(r.user_id),
          partnerCode: r.partner_code,
          requestId: payload.correlationId,
          outcome: 'SUCCESS',
          details: { fileSha256: sha256, kid: signed.kid, jti: signed.jti, sharedFields: sharedFieldsOf(r) },
        },
        m,
      );
      this.logger.log({ referralId, correlationId: payload.correlationId }, 'referral packaged');
      return { outcome: 'packaged' };
    });
  }

  private facts(userId: string, s: SnapshotRow): SnapshotFacts {
    return {
      asOf: isoDate(s.as_of)!,
      identity: this.identities.open(userId, s.identity_enc),
      kycLevel: num(s.kyc_level),
      score: num(s.score),
      riskGrade: s.risk_grade,
      creditLimit: s.credit_limit,
      balance: s.balance,
      accountOpenedAt: isoDate(s.account_opened_at),
      onTimeCount24m: num(s.on_time_count_24m),
      overdueCount24m: num(s.overdue_count_24m),
      maxDpd24m: num(s.max_dpd_24m),
      currentDpd: num(s.current_dpd),
      orders12m: num(s.orders_12m),
      gmv12m: s.gmv_12m,
      returnRate12m: num(s.return_rate_12m),
      avgReviewScore: num(s.avg_review_score),
    };
  }
}

export const sharedFieldsOf = (r: Pick<PackagingRow, 'shared_fields'>): string[] =>
  typeof r.shared_fields === 'string' ? JSON.parse(r.shared_fields) : r.shared_fields;

const num = (v: number | string | null) => (v === null ? null : Number(v));

/** DATE columns come back as UTC-midnight Dates (driver timezone 'Z'). */
const isoDate = (v: Date | string | null) => (v === null ? null : typeof v === 'string' ? v.slice(0, 10) : v.toISOString().slice(0, 10));
