import { Injectable } from '@nestjs/common';

import { TimelineEntry, TimelineKey, TimelineSource } from '../../common/timeline';
import { NOTICE_KIND, OverdueNoticesRepository } from './overdue-notices.repository';
import { noticePublicId, recordPublicId, referralPublicId } from './overdue-record';
import { OverdueRecordsRepository, RECORD_KIND } from './overdue-records.repository';

/** Audit action of each record status, as the scan writes them (overdue-scan-execution). */
const RECORD_ACTION = { NEW: 'overdue_report.reported', UPDATED: 'overdue_report.updated', CURED: 'overdue_report.cured' } as const;

/** Overdue sharing's part of a compliance timeline: the notices to the user, then the records reported to the bank. */
@Injectable()
export class OverdueTimeline implements TimelineSource {
  constructor(
    private readonly notices: OverdueNoticesRepository,
    private readonly records: OverdueRecordsRepository,
  ) {}

  async entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]> {
    const notices = await this.notices.timelineOfUser(userId, after, limit);
    const records = await this.records.timelineOfUser(userId, after, limit);
    return [
      ...notices.map((n): TimelineEntry => ({
        at: new Date(n.created_at),
        kind: NOTICE_KIND,
        id: String(n.id),
        partner: n.partner_code,
        referralId: referralPublicId(n.referral_id),
        summary:
          `Overdue notice: ${n.dpd} days past due, ${n.overdue_amount} overdue; notice date ${n.notice_date}, ` +
          `shared on ${n.share_on} unless repaid; now ${n.status}${n.sent_at ? '' : ' (not yet sent)'}`,
        audit: { action: 'overdue_notice.sent', resourceType: 'overdue_notice', resourceId: noticePublicId(n.id) },
      })),
      ...records.map((r): TimelineEntry => ({
        at: new Date(r.created_at),
        kind: RECORD_KIND,
        id: String(r.id),
        partner: r.partner_code,
        referralId: referralPublicId(r.referral_id),
        summary:
          `Overdue record ${r.status} reported to the bank: ${r.dpd} days past due (bucket ${r.dpd_bucket ?? 'none'}, ` +
          `account status ${r.account_status}), ${r.overdue_amount} overdue as of ${r.state_as_of}`,
        audit: { action: RECORD_ACTION[r.status], resourceType: 'overdue_report', resourceId: recordPublicId(r.id) },
      })),
    ];
  }
}
