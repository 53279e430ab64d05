import { Injectable, Logger } from '@nestjs/common';

import { toPublicId } from '../../../common/public-id';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { JobPayload } from '../../../infra/queues/job-catalogue';
import { JobAbandonedHandler } from '../../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../../audit/audit.writer';
import { ReferralTransitions } from '../referral-transitions';
import { ReferralPackagingRepository } from './referral-packaging.repository';

const PACKAGING_ACTOR = { type: 'system', id: 'packaging' } as const;

/**
 * What happens to a referral whose `referral.package` job BullMQ gave up on (it is retried until it succeeds, so this
 * means it stalled more often than allowed, or an operator failed it): left PACKAGING, the applicant would wait
 * forever and stay blocked by OPEN_APPLICATION. It becomes EXPIRED at once, with a timeline note the applicant sees
 * (GET /v1/me/applications/{id}) and a FAILURE audit entry; the open application ends, so the user may apply again.
 * The bank never saw a PACKAGING referral, so it is not told (as for an expiry from PACKAGING, ReferralSlaProcessor).
 * EXPIRED is the contract's state for "ended without a decision"; API.md has no other end a PACKAGING referral may take.
 */
@Injectable()
export class ReferralPackagingFailure {
  private readonly logger = new Logger(ReferralPackagingFailure.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: ReferralPackagingRepository,
    private readonly transitions: ReferralTransitions,
    private readonly audit: AuditWriter,
  ) {}

  @JobAbandonedHandler('referrals', 'referral.package')
  async abandoned(payload: JobPayload<'referrals', 'referral.package'>, reason: string): Promise<void> {
    const id = String(payload.referralId);
    const referralId = toPublicId('ref', id);
    const outcome = await this.tx.run(async (m) => {
      const { moved } = await this.transitions.move(m, id, 'EXPIRED', PACKAGING_ACTOR, {
        note: 'the referral file could not be built; the application was not sent to the bank',
      });
      if (!moved) return 'not-packaging';
      const r = await this.repository.ownerOf(m, id);
      await this.repository.endOpenApplication(m, r);
      await this.audit.append(
        {
          actorType: 'system',
          actorId: PACKAGING_ACTOR.id,
          action: 'referral.packaging_failed',
          resourceType: 'referral',
          resourceId: referralId,
          subjectUserHash: this.audit.subjectHash(r.user_id),
          partnerCode: r.partner_code,
          requestId: payload.correlationId,
          outcome: 'FAILURE',
          details: { previousStatus: 'PACKAGING', status: 'EXPIRED' },
        },
        m,
      );
      return 'expired';
    });
    // BullMQ's reason is the handler's error text: logged for operators, never stored on the referral.
    if (outcome === 'expired') this.logger.error({ referralId, reason }, 'referral packaging abandoned: referral EXPIRED');
  }
}
