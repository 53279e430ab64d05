import { Injectable } from '@nestjs/common';

import { TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { OFFER_KIND, OffersRepository } from './offers.repository';

/** The offers a user was made (pre-screened), for the compliance timeline. No audit entry names one offer. */
@Injectable()
export class OffersTimeline implements TimelineSource {
  constructor(private readonly offers: OffersRepository) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const rows = await this.offers.timelineOfUser(userId, after, limit);
    return rows.map((r) => ({
      at: new Date(r.at),
      kind: OFFER_KIND,
      id: String(r.id),
      partner: r.partner_code,
      summary: `Pre-screened offer of ${r.product_code} (now ${r.status})`,
    }));
  }
}
