import { Injectable } from '@nestjs/common';

import { BadRequestError } from '../../common/errors';
import { OverdueStatisticsQuery, OverdueStatisticsRow, OverdueStatisticsView } from './dto/overdue-statistics.dto';
import { OverdueStatisticsRepository } from './overdue-statistics.repository';

const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

/** The first day of the month after `month` (YYYY-MM), as YYYY-MM-DD. */
const monthAfter = (month: string) => {
  const [y, m] = month.split('-').map(Number);
  return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
};

/**
 * Overdue statistics for operators (docs/OVERDUE.md "Statistics"): per partner and notice month, how many users were
 * told, how many repaid before anything was shared, what was shared and cured, and how long repayment took. Computed
 * from the notices and records themselves (no counters to drift).
 */
@Injectable()
export class OverdueStatistics {
  constructor(private readonly repo: OverdueStatisticsRepository) {}

  async overdue(query: OverdueStatisticsQuery): Promise<OverdueStatisticsView> {
    if (query.from && query.to && query.from > query.to) {
      throw new BadRequestError('from is after to', [{ field: 'from', message: 'must not be after to' }]);
    }
    const filter = {
      partnerCode: query.partner,
      fromDate: query.from ? `${query.from}-01` : undefined,
      beforeDate: query.to ? monthAfter(query.to) : undefined,
    };
    const [notices, records, days] = await Promise.all([
      this.repo.noticeCounts(filter),
      this.repo.recordCounts(filter),
      this.repo.repaymentDays(filter),
    ]);
    const key = (r: { partner_code: string; month: string }) => `${r.partner_code}\u0000${r.month}`;
    const rows = new Map<string, OverdueStatisticsRow>();
    for (const n of notices) {
      const sent = Number(n.sent);
      const repaid = Number(n.cancelled_repaid);
      rows.set(key(n), {
        partnerCode: n.partner_code,
        month: n.month,
        noticesSent: sent,
        noticesPending: Number(n.pending),
        noticesCancelledByRepayment: repaid,
        repaidBeforeSharingShare: sent === 0 ? null : round(repaid / sent, 4),
        noticesCancelledByConsentRevocation: Number(n.cancelled_revoked),
        recordsShared: 0,
        cured: 0,
        daysNoticeToRepayment: null,
      });
    }
    for (const r of records) {
      const row = rows.get(key(r));
      if (!row) continue;
      row.recordsShared = Number(r.shared);
      row.cured = Number(r.cured);
    }
    for (const d of days) {
      const row = rows.get(key(d));
      if (row) row.daysNoticeToRepayment = { count: Number(d.n), median: round(Number(d.median), 1) };
    }
    const data = [...rows.values()].sort((a, b) => a.partnerCode.localeCompare(b.partnerCode) || a.month.localeCompare(b.month));
    return { from: query.from ?? null, to: query.to ?? null, data };
  }
}
