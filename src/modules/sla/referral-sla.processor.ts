import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { BasePayload } from '../../infra/queues/job-catalogue';
import { JobHandler } from '../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../audit/audit.writer';
import { PartnerEvents } from '../events/partner-events.service';
import { isFinal } from '../referrals/referral-state';
import { ReferralTransitions } from '../referrals/referral-transitions';
import { ReferralSlaRepository, SlaReferralRow } from './referral-sla.repository';
import { ReferralSla } from './referral-sla.service';

type Payload = BasePayload & { referralId: string };
const SLA_ACTOR = { type: 'system', id: 'sla' } as const;

/**
 * The two SLA timers of a referral. Both lock the referral row and re-read it, so a redelivered job (BullMQ is at
 * least once) or one racing a decision changes nothing twice: a final referral is left alone, the late flag is set
 * once (and only that first flag schedules the expiry), and EXPIRED is a conditional move a decision can win.
 * A timer that fires before its deadline (clock skew) writes itself again with the remaining delay.
 */
@Injectable()
export class ReferralSlaProcessor {
  private readonly logger = new Logger(ReferralSlaProcessor.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repo: ReferralSlaRepository,
    private readonly sla: ReferralSla,
    private readonly transitions: ReferralTransitions,
    private readonly outbox: OutboxService,
    private readonly events: PartnerEvents,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
  ) {}

  /** At the deadline: not final → flagged late (metric, audit) and the expiry written for deadline + grace. */
  @JobHandler('sla', 'referral.sla-check')
  async check(payload: Payload): Promise<{ outcome: string }> {
    let flagged: SlaReferralRow | undefined;
    const outcome = await this.tx.run(async (m) => {
      flagged = undefined;
      const r = await this.repo.lock(m, payload.referralId, this.sla.graceMs);
      if (!r) return 'missing';
      if (isFinal(r.status)) return 'final';
      if (r.sla_breached_at) return 'already-flagged';
      if (Number(r.due_in_ms) > 0) {
        await this.outbox.enqueue(m, 'sla', 'referral.sla-check', payload, { delayMs: Number(r.due_in_ms) });
        return 'early';
      }
      if (!(await this.repo.flagBreached(m, r.id))) return 'already-flagged';
      await this.audit.append(
        this.entry(r, 'referral.sla.breached', payload.correlationId, {
          expiresAt: new Date(r.expires_at).toISOString(),
          status: r.status,
        }),
        m,
      );
      await this.outbox.enqueue(m, 'sla', 'referral.expire', payload, { delayMs: Math.max(0, Number(r.grace_due_in_ms)) });
      flagged = r;
      return 'flagged';
    });
    // Counted after commit, so a rolled-back attempt is not counted.
    if (flagged) {
      this.metrics.referralSlaBreaches.inc({ partner: flagged.partner_code, product: flagged.product_code });
      this.logger.warn(
        { referralId: toPublicId('ref', flagged.id), correlationId: payload.correlationId },
        'referral past its decision SLA',
      );
    }
    return { outcome };
  }

  /** At deadline + grace: still not final → EXPIRED, open application ended, the bank told; one transaction. */
  @JobHandler('sla', 'referral.expire')
  async expire(payload: Payload): Promise<{ outcome: string }> {
    return this.tx.run(async (m) => ({ outcome: await this.expireInTransaction(m, payload) }));
  }

  private async expireInTransaction(m: EntityManager, payload: Payload): Promise<string> {
    const r = await this.repo.lock(m, payload.referralId, this.sla.graceMs);
    if (!r) return 'missing';
    if (isFinal(r.status)) return 'final';
    if (Number(r.grace_due_in_ms) > 0) {
      await this.outbox.enqueue(m, 'sla', 'referral.expire', payload, { delayMs: Number(r.grace_due_in_ms) });
      return 'early';
    }
    const { moved, from } = await this.transitions.move(m, r.id, 'EXPIRED', SLA_ACTOR, {
      note: 'no final decision within the decision SLA and its grace',
    });
    if (!moved) return 'final';
    await this.repo.deleteOpenApplication(m, r);
    const referralId = toPublicId('ref', r.id);
    // A PACKAGING referral was never announced to the bank: there is nothing to tell it.
    if (from !== 'PACKAGING') {
      await this.events.emit(m, {
        partnerId: r.partner_id,
        type: 'referral.expired',
        txn: referralId,
        dedupeKey: `referral.expired:${r.id}`,
        payload: {
          referralId,
          productCode: r.product_code,
          status: 'EXPIRED',
          previousStatus: from,
          expiresAt: new Date(r.expires_at).toISOString(),
        },
      });
    }
    await this.audit.append(
      this.entry(r, 'referral.expired', payload.correlationId, { previousStatus: from, graceHours: this.sla.graceMs / this.sla.hourMs }),
      m,
    );
    this.logger.log({ referralId, correlationId: payload.correlationId }, 'referral expired');
    return 'expired';
  }

  private entry(r: SlaReferralRow, action: string, requestId: string, details: Record<string, unknown>) {
    return {
      actorType: 'system' as const,
      actorId: SLA_ACTOR.id,
      action,
      resourceType: 'referral',
      resourceId: toPublicId('ref', r.id),
      subjectUserHash: this.audit.subjectHash(r.user_id),
      partnerCode: r.partner_code,
      requestId,
      outcome: 'SUCCESS' as const,
      details: { productCode: r.product_code, ...details },
    };
  }
}
