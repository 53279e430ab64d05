import { DeliverableRow, PartnerReferralsRepository } from './partner-referrals.repository';

/** Most fetches one read serves (bounds the IN list). */
export const DELIVERABLE_READ_MAX = 500;

interface PendingRead {
  partnerId: string;
  referralId: string;
  resolve: (row: DeliverableRow | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * The partner fetch's plain read, shared by the fetches that arrive while one is in flight (as AuditWriter groups
 * its appends): one `SELECT … WHERE id IN (…)` instead of one query per request, which under load was a round trip
 * and a pooled connection per fetch. Reads have no side effects, so a failed read fails only the fetches it served
 * (their 500), and the next group is read afresh.
 */
export class DeliverableReader {
  private pending: PendingRead[] = [];
  private reading = false;

  constructor(private readonly repository: PartnerReferralsRepository) {}

  /** The partner's referral with its file and consent, or undefined when missing, another partner's or PACKAGING. */
  read(partnerId: string, referralId: string): Promise<DeliverableRow | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.push({ partnerId, referralId, resolve, reject });
      if (!this.reading) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.reading = true;
    try {
      while (this.pending.length) {
        const group = this.pending.splice(0, DELIVERABLE_READ_MAX);
        try {
          const rows = await this.repository.deliverableOfPartners(group);
          group.forEach((p, i) => p.resolve(rows[i]));
        } catch (error) {
          for (const p of group) p.reject(error);
        }
      }
    } finally {
      this.reading = false;
    }
  }
}
