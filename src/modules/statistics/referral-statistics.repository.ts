import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface StatisticsFilter {
  partnerCode?: string;
  productCode?: string;
  from?: Date;
  to?: Date;
}

export interface StatusCountRow {
  partner_code: string;
  product_code: string;
  status: string;
  n: string | number;
  breaches: string | number;
}

export interface DecisionTimeRow {
  partner_code: string;
  product_code: string;
  n: string | number;
  median: string | number;
  p90: string | number;
}

/**
 * Partner statistics, computed in the database in two grouped queries. Percentiles are PERCENTILE_CONT's linear
 * interpolation written with ROW_NUMBER() and COUNT() windows: MariaDB has PERCENTILE_CONT, MySQL 8 does not, and
 * this form runs on both (and on TiDB).
 */
@Injectable()
export class ReferralStatisticsRepository {
  constructor(private readonly db: DataSource) {}

  async statusCounts(f: StatisticsFilter): Promise<StatusCountRow[]> {
    const { where, params } = scope(f);
    return this.db.query(
      `SELECT pa.code AS partner_code, p.code AS product_code, r.status, COUNT(*) AS n, SUM(r.sla_breached_at IS NOT NULL) AS breaches
         FROM referrals r
         JOIN partners pa ON pa.id = r.partner_id
         JOIN card_products p ON p.id = r.product_id
        WHERE ${where}
        GROUP BY pa.code, p.code, r.status`,
      params,
    );
  }

  async decisionTimes(f: StatisticsFilter): Promise<DecisionTimeRow[]> {
    const { where, params } = scope(f);
    return this.db.query(
      `WITH ranked AS (
         SELECT pa.code AS partner_code, p.code AS product_code, ${SECS} AS secs,
                ROW_NUMBER() OVER (PARTITION BY r.partner_id, r.product_id ORDER BY ${SECS}) AS rn,
                COUNT(*) OVER (PARTITION BY r.partner_id, r.product_id) AS n
           FROM referrals r
           JOIN partners pa ON pa.id = r.partner_id
           JOIN card_products p ON p.id = r.product_id
          WHERE ${where} AND r.status IN ('APPROVED', 'DECLINED') AND r.decided_at IS NOT NULL
       ), picked AS (
         SELECT partner_code, product_code, n,
                MAX(CASE WHEN rn = FLOOR(1 + 0.5 * (n - 1)) THEN secs END) AS p50_lo,
                MAX(CASE WHEN rn = CEIL(1 + 0.5 * (n - 1)) THEN secs END) AS p50_hi,
                MAX(CASE WHEN rn = FLOOR(1 + 0.9 * (n - 1)) THEN secs END) AS p90_lo,
                MAX(CASE WHEN rn = CEIL(1 + 0.9 * (n - 1)) THEN secs END) AS p90_hi
           FROM ranked GROUP BY partner_code, product_code, n
       )
       SELECT partner_code, product_code, n,
              p50_lo + (0.5 * (n - 1) - FLOOR(0.5 * (n - 1))) * (p50_hi - p50_lo) AS median,
              p90_lo + (0.9 * (n - 1) - FLOOR(0.9 * (n - 1))) * (p90_hi - p90_lo) AS p90
         FROM picked`,
      params,
    );
  }
}

/** Time to decision in seconds (millisecond precision, as stored). */
const SECS = 'TIMESTAMPDIFF(MICROSECOND, r.created_at, r.decided_at) / 1000000';

function scope(f: StatisticsFilter): { where: string; params: unknown[] } {
  const where = ['1 = 1'];
  const params: unknown[] = [];
  if (f.partnerCode) {
    where.push('pa.code = ?');
    params.push(f.partnerCode);
  }
  if (f.productCode) {
    where.push('p.code = ?');
    params.push(f.productCode);
  }
  if (f.from) {
    where.push('r.created_at >= ?');
    params.push(f.from);
  }
  if (f.to) {
    where.push('r.created_at < ?');
    params.push(f.to);
  }
  return { where: where.join(' AND '), params };
}
