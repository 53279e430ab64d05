import { Injectable, Logger } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { BasePayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler, JobHandler } from '../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../audit/audit.writer';
import { decisionOf, DecisionsRepository } from './decisions.repository';

export const APPLICATION_DECIDED = 'APPLICATION_DECIDED';

export type ApplyOutcome = 'missing' | 'not-final' | 'applied' | 'already-applied';

/**
 * `decisions/decision.apply`: what a final decision leads to, in one transaction under the referral's row lock.
 * An approval enrols the user as the partner's cardholder (overdue sharing relies on it) with the CARDHOLDER
 * relationship the pre-screen exclusions read; any final decision ends the OPEN_APPLICATION relationship and writes
 * the user's APPLICATION_DECIDED notification. Every write is keyed (unique referral_id, (referral, kind), the
 * relationship's primary key), so a redelivered job changes nothing more. The timeline row was written with the move;
 * partner statistics read referrals.decision and decided_at directly.
 */
@Injectable()
export class DecisionApplyProcessor {
  private readonly logger = new Logger(DecisionApplyProcessor.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: DecisionsRepository,
    private readonly audit: AuditWriter,
  ) {}

  @JobHandler('decisions', 'decision.apply')
  async apply(payload: BasePayload & { referralId: string }): Promise<{ outcome: ApplyOutcome }> {
    return this.tx.run(async (m) => {
      const r = await this.repository.lockForApply(m, payload.referralId);
      // The outbox row commits with the decision, so a missing referral will not appear later: nothing to retry.
      if (!r) return { outcome: 'missing' as const };
      const decision = decisionOf(r.decision);
      if ((r.status !== 'APPROVED' && r.status !== 'DECLINED') || !decision) return { outcome: 'not-final' as const };
      let changed = false;
      if (r.status === 'APPROVED') changed = (await this.repository.enrolCardholder(m, r, decision)) || changed;
      await this.repository.endOpenApplication(m, r);
      // No PII: what the platform needs to word the message and link to the application, nothing about the card.
      changed =
        (await this.repository.notify(m, r.user_id, r.id, APPLICATION_DECIDED, {
          referralId: toPublicId('ref', r.id),
          partnerCode: r.partner_code,
          productCode: r.product_code,
          decision: r.status,
          decidedAt: decision.decidedAt,
        })) || changed;
      return { outcome: changed ? ('applied' as const) : ('already-applied' as const) };
    });
  }

  /**
   * BullMQ gave up applying a decision (retried until it succeeds, so: it stalled too often, or an operator failed
   * it): the decision stands, but an approval may have no cardholder row and the user no notification. A FAILURE audit
   * entry and an error log say so; the outbox row is FAILED and an operator re-runs it once the cause is fixed.
   */
  @JobAbandonedHandler('decisions', 'decision.apply')
  async abandoned(payload: BasePayload & { referralId: string }, reason: string): Promise<void> {
    const r = await this.tx.run((m) => this.repository.lockForApply(m, payload.referralId));
    if (!r) return;
    const referralId = toPublicId('ref', r.id);
    this.logger.error({ referralId, correlationId: payload.correlationId, reason }, 'decision apply abandoned by the job queue');
    await this.audit.append({
      actorType: 'system',
      actorId: 'decision-apply',
      action: 'decision.apply_abandoned',
      resourceType: 'referral',
      resourceId: referralId,
      subjectUserHash: this.audit.subjectHash(r.user_id),
      partnerCode: r.partner_code,
      requestId: payload.correlationId,
      outcome: 'FAILURE',
      details: { status: r.status, productCode: r.product_code },
    });
  }
}
