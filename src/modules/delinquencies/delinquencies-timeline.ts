import { Injectable } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { DelinquenciesRepository, DELINQUENCY_KIND } from './delinquencies.repository';

/** Delinquencies banks reported on the user (POST /partner/v1/delinquencies), for the compliance timeline. */
@Injectable()
export class DelinquenciesTimeline implements TimelineSource {
  constructor(private readonly repository: DelinquenciesRepository) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const rows = await this.repository.timelineOfUser(userId, after, limit);
    return rows.map((r) => ({
      at: new Date(r.at),
      kind: DELINQUENCY_KIND,
      id: String(r.id),
      partner: r.partner_code,
      ...(r.referral_id !== null ? { referralId: toPublicId('ref', r.referral_id) } : {}),
      summary: `Delinquency reported by the bank: ${r.dpd} days past due, ${r.amount_overdue} overdue as of ${r.as_of}`,
      audit: { action: 'delinquency.reported', resourceType: 'delinquency', resourceId: toPublicId('dlq', r.id) },
    }));
  }
}
