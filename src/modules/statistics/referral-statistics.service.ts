import { Injectable } from '@nestjs/common';

import { BadRequestError } from '../../common/errors';
import { REFERRAL_STATUSES, ReferralStatus } from '../referrals/referral-state';
import { ReferralStatisticsQuery, ReferralStatisticsRow, ReferralStatisticsView } from './dto/referral-statistics.dto';
import { ReferralStatisticsRepository } from './referral-statistics.repository';

const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

/** Partner statistics for operators, computed from the referrals themselves (no counters to drift). */
@Injectable()
export class ReferralStatistics {
  constructor(private readonly repo: ReferralStatisticsRepository) {}

  async referrals(query: ReferralStatisticsQuery): Promise<ReferralStatisticsView> {
    const from = query.from ? new Date(query.from) : undefined;
    const to = query.to ? new Date(query.to) : undefined;
    if (from && to && from.getTime() > to.getTime()) {
      throw new BadRequestError('from is after to', [{ field: 'from', message: 'must not be after to' }]);
    }
    const filter = { partnerCode: query.partner, productCode: query.product, from, to };
    const [counts, times] = await Promise.all([this.repo.statusCounts(filter), this.repo.decisionTimes(filter)]);

    const rows = new Map<string, ReferralStatisticsRow>();
    for (const c of counts) {
      const key = `${c.partner_code}\u0000${c.product_code}`;
      let row = rows.get(key);
      if (!row) {
        row = {
          partnerCode: c.partner_code,
          productCode: c.product_code,
          total: 0,
          byStatus: Object.fromEntries(REFERRAL_STATUSES.map((s) => [s, 0])) as Record<ReferralStatus, number>,
          approvalRate: null,
          timeToDecisionSeconds: null,
          slaBreaches: 0,
        };
        rows.set(key, row);
      }
      row.byStatus[c.status as ReferralStatus] = Number(c.n);
      row.total += Number(c.n);
      row.slaBreaches += Number(c.breaches);
    }
    for (const t of times) {
      const row = rows.get(`${t.partner_code}\u0000${t.product_code}`);
      if (row) row.timeToDecisionSeconds = { count: Number(t.n), median: round(Number(t.median), 3), p90: round(Number(t.p90), 3) };
    }
    for (const row of rows.values()) {
      const decided = row.byStatus.APPROVED + row.byStatus.DECLINED;
      row.approvalRate = decided === 0 ? null : round(row.byStatus.APPROVED / decided, 4);
    }
    const data = [...rows.values()].sort(
      (a, b) => a.partnerCode.localeCompare(b.partnerCode) || a.productCode.localeCompare(b.productCode),
    );
    return { from: from?.toISOString() ?? null, to: to?.toISOString() ?? null, data };
  }
}
