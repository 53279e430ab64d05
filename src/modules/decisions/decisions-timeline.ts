import { Injectable } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { DECISION_KIND, decisionOf, DecisionsRepository } from './decisions.repository';

/**
 * A bank's final decisions on the user's applications, for the compliance timeline: at the time the gateway recorded
 * the decision, with the bank's own decidedAt and any decline reason codes. The card number and limit stay out.
 */
@Injectable()
export class DecisionsTimeline implements TimelineSource {
  constructor(private readonly repository: DecisionsRepository) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const rows = await this.repository.decidedOfUser(userId, after, limit);
    return rows.map((r) => {
      const d = decisionOf(r.decision)!;
      const referralId = toPublicId('ref', r.id);
      const reasons = d.declineReasons?.length ? `, reasons ${d.declineReasons.join(', ')}` : '';
      return {
        at: new Date(r.at),
        kind: DECISION_KIND,
        id: String(r.id),
        partner: r.partner_code,
        referralId,
        summary: `${d.decision} for ${r.product_code} (decided by the bank at ${d.decidedAt}${reasons})`,
        audit: { action: 'referral.decided', resourceType: 'referral', resourceId: referralId },
      };
    });
  }
}
