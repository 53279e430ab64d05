import { GroupedCalls } from '../../../common/grouped-calls';
import { DeliverableRow, PartnerReferralsRepository } from './partner-referrals.repository';

/** Most fetches one read serves (bounds the IN list). */
export const DELIVERABLE_READ_MAX = 500;

/**
 * The partner fetch's plain read, shared by the fetches that arrive while one is in flight (as AuditWriter groups
 * its appends): one `SELECT … WHERE id IN (…)` instead of one query per request, which under load was a round trip
 * and a pooled connection per fetch. Reads have no side effects, so a failed read fails only the fetches it served
 * (their 500), and the next group is read afresh.
 */
export class DeliverableReader {
  private readonly groups: GroupedCalls<{ partnerId: string; referralId: string }, DeliverableRow | undefined>;

  constructor(repository: PartnerReferralsRepository) {
    this.groups = new GroupedCalls({
      run: (requests) => repository.deliverableOfPartners(requests),
      maxGroup: DELIVERABLE_READ_MAX,
      onGroupFailure: 'fail-all',
    });
  }

  /** The partner's referral with its file and consent, or undefined when missing, another partner's or PACKAGING. */
  read(partnerId: string, referralId: string): Promise<DeliverableRow | undefined> {
    return this.groups.call({ partnerId, referralId });
  }
}
