import { Injectable } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { jsonColumn } from '../../infra/database/json-column';
import { DISCLOSURE_KIND, DisclosuresRepository } from './disclosures.repository';

/**
 * What left for a partner, for the compliance timeline: the field paths, never their values. A referral file's
 * disclosure points at its `referral.file.disclosed` audit entry; an overdue report's entry is the record's own
 * (overdue.record), which the disclosure row does not name, so it carries none.
 */
@Injectable()
export class DisclosuresTimeline implements TimelineSource {
  constructor(private readonly repository: DisclosuresRepository) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const rows = await this.repository.timelineOfUser(userId, after, limit);
    return rows.map((r) => {
      const referralId = r.referral_id !== null ? toPublicId('ref', r.referral_id) : undefined;
      return {
        at: new Date(r.disclosed_at),
        kind: DISCLOSURE_KIND,
        id: String(r.id),
        partner: r.partner_code,
        ...(referralId ? { referralId } : {}),
        summary: `${r.kind} disclosed: ${jsonColumn<string[]>(r.shared_fields).join(', ')}`,
        ...(r.kind === 'REFERRAL_FILE' && referralId
          ? { audit: { action: 'referral.file.disclosed', resourceType: 'referral', resourceId: referralId } }
          : {}),
      };
    });
  }
}
