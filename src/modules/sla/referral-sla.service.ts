import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { decodeCursor, Page, toPage } from '../../common/pagination';
import { toPublicId } from '../../common/public-id';
import { AppConfigService } from '../../infra/config/app-config';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { LateReferralsQuery, LateReferralView } from './dto/late-referrals.dto';
import { LateReferralRow, ReferralSlaRepository } from './referral-sla.repository';

/**
 * Decision SLAs. Every referral gets a delayed `sla/referral.sla-check` outbox row at its deadline, written in the
 * transaction that creates it, so the timer exists exactly when the referral does and survives a Redis loss (the
 * outbox sweeper re-adds a vanished delayed job with its remaining delay).
 */
@Injectable()
export class ReferralSla {
  constructor(
    private readonly repo: ReferralSlaRepository,
    private readonly outbox: OutboxService,
    private readonly config: AppConfigService,
  ) {}

  /** Length of one SLA hour in ms (shortened only in development and tests: config referrals.slaHourMs). */
  get hourMs(): number {
    return this.config.values.referrals.slaHourMs;
  }

  get graceMs(): number {
    return this.config.values.referrals.slaGraceHours * this.hourMs;
  }

  /** A decision SLA of `decisionSlaHours` in ms: what expires_at - created_at must be, and the check's delay. */
  slaMs(decisionSlaHours: number): number {
    return decisionSlaHours * this.hourMs;
  }

  /**
   * In the referral's creating transaction, which inserted it with expires_at = created_at + `slaMs`: the delayed
   * check at that deadline.
   */
  async scheduleCheck(m: EntityManager, referralId: string, slaMs: number, correlationId: string): Promise<void> {
    await this.outbox.enqueue(m, 'sla', 'referral.sla-check', { referralId, correlationId }, { delayMs: slaMs });
  }

  async listLate(query: LateReferralsQuery): Promise<Page<LateReferralView>> {
    const rows = await this.repo.pageLate(
      { partnerCode: query.partner, productCode: query.product },
      decodeCursor(query.cursor),
      query.limit,
    );
    return toPage(rows, query.limit, (r) => r.id, toLateView);
  }
}

function toLateView(r: LateReferralRow): LateReferralView {
  return {
    id: toPublicId('ref', r.id),
    partnerCode: r.partner_code,
    productCode: r.product_code,
    status: r.status,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: new Date(r.expires_at).toISOString(),
    slaBreachedAt: r.sla_breached_at ? new Date(r.sla_breached_at).toISOString() : null,
  };
}
