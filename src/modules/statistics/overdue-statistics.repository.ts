import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface OverdueStatisticsFilter {
  partnerCode?: string;
  /** Notice dates from (included) and before (excluded), YYYY-MM-DD. */
  fromDate?: string;
  beforeDate?: string;
}

export interface NoticeCountRow {
  partner_code: string;
  month: string;
  sent: string | number;
  pending: string | number;
  cancelled_repaid: string | number;
  cancelled_revoked: string | number;
}

export interface RecordCountRow {
  partner_code: string;
  month: string;
  shared: string | number;
  cured: string | number;
}

export interface RepaymentDaysRow {
  partner_code: string;
  month: string;
  n: string | number;
  median: string | number;
}

const MONTH_OF_NOTICE = "DATE_FORMAT(n.notice_date, '%Y-%m')";

/**
 * Overdue statistics per partner and notice month, in three grouped queries over the notices (by
 * idx_overdue_notices_partner_date) and their records (by idx_overdue_records_notice). The median is the same
 * ROW_NUMBER()/COUNT() form of PERCENTILE_CONT as the referral statistics (MySQL 8 has no PERCENTILE_CONT).
 */
@Injectable()
export class OverdueStatisticsRepository {
  constructor(private readonly db: DataSource) {}

  async noticeCounts(f: OverdueStatisticsFilter): Promise<NoticeCountRow[]> {
    const { where, params } = scope(f);
    return this.db.query(
      `SELECT pa.code AS partner_code, ${MONTH_OF_NOTICE} AS month, COUNT(*) AS sent, SUM(n.status = 'PENDING') AS pending,
              SUM(n.status = 'CANCELLED' AND n.cancel_reason = 'REPAID') AS cancelled_repaid,
              SUM(n.status = 'CANCELLED' AND n.cancel_reason = 'CONSENT_REVOKED') AS cancelled_revoked
         FROM overdue_notices n JOIN partners pa ON pa.id = n.partner_id
        WHERE ${where}
        GROUP BY pa.code, month`,
      params,
    );
  }

  async recordCounts(f: OverdueStatisticsFilter): Promise<RecordCountRow[]> {
    const { where, params } = scope(f);
    return this.db.query(
      `SELECT pa.code AS partner_code, ${MONTH_OF_NOTICE} AS month, SUM(o.status = 'NEW') AS shared, SUM(o.status = 'CURED') AS cured
         FROM overdue_notices n
         JOIN partners pa ON pa.id = n.partner_id
         JOIN overdue_records o ON o.notice_id = n.id AND o.status IN ('NEW', 'CURED')
        WHERE ${where}
        GROUP BY pa.code, month`,
      params,
    );
  }

  /** Days from the notice to the repayment: a REPAID cancellation's resolvedOn, or the CURED record's reportDate. */
  async repaymentDays(f: OverdueStatisticsFilter): Promise<RepaymentDaysRow[]> {
    const { where, params } = scope(f);
    return this.db.query(
      `WITH repaid AS (
         SELECT pa.code AS partner_code, ${MONTH_OF_NOTICE} AS month, DATEDIFF(n.resolved_on, n.notice_date) AS days
           FROM overdue_notices n JOIN partners pa ON pa.id = n.partner_id
          WHERE ${where} AND n.status = 'CANCELLED' AND n.cancel_reason = 'REPAID'
         UNION ALL
         SELECT pa.code, ${MONTH_OF_NOTICE}, DATEDIFF(o.report_date, n.notice_date)
           FROM overdue_notices n
           JOIN partners pa ON pa.id = n.partner_id
           JOIN overdue_records o ON o.notice_id = n.id AND o.status = 'CURED'
          WHERE ${where}
       ), ranked AS (
         SELECT partner_code, month, days,
                ROW_NUMBER() OVER (PARTITION BY partner_code, month ORDER BY days) AS rn,
                COUNT(*) OVER (PARTITION BY partner_code, month) AS n
           FROM repaid
       ), picked AS (
         SELECT partner_code, month, n,
                MAX(CASE WHEN rn = FLOOR(1 + 0.5 * (n - 1)) THEN days END) AS lo,
                MAX(CASE WHEN rn = CEIL(1 + 0.5 * (n - 1)) THEN days END) AS hi
           FROM ranked GROUP BY partner_code, month, n
       )
       SELECT partner_code, month, n, lo + (0.5 * (n - 1) - FLOOR(0.5 * (n - 1))) * (hi - lo) AS median FROM picked`,
      [...params, ...params],
    );
  }
}

function scope(f: OverdueStatisticsFilter): { where: string; params: unknown[] } {
  const where = ['1 = 1'];
  const params: unknown[] = [];
  if (f.partnerCode) {
    where.push('pa.code = ?');
    params.push(f.partnerCode);
  }
  if (f.fromDate) {
    where.push('n.notice_date >= ?');
    params.push(f.fromDate);
  }
  if (f.beforeDate) {
    where.push('n.notice_date < ?');
    params.push(f.beforeDate);
  }
  return { where: where.join(' AND '), params };
}
