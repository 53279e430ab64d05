import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { FINAL_STATUSES, ReferralStatus } from '../referrals/referral-state';

/** A referral as the SLA jobs see it; `due_in_ms` / `grace_due_in_ms` are measured by the database clock. */
export interface SlaReferralRow {
  id: string;
  user_id: string;
  partner_id: string;
  partner_code: string;
  product_code: string;
  status: ReferralStatus;
  expires_at: Date;
  sla_breached_at: Date | null;
  due_in_ms: string | number;
  grace_due_in_ms: string | number;
}

export interface LateReferralRow {
  id: string;
  partner_code: string;
  product_code: string;
  status: ReferralStatus;
  created_at: Date;
  expires_at: Date;
  sla_breached_at: Date | null;
}

const FINAL_LIST = FINAL_STATUSES.map((s) => `'${s}'`).join(',');

/** The SQL of decision SLAs: deadlines, the late flag, expiry side effects and the operator's late listing. */
@Injectable()
export class ReferralSlaRepository {
  constructor(private readonly db: DataSource) {}

  /** The referral row locked (FOR UPDATE, referral row only), with its partner and product codes. */
  async lock(m: EntityManager, referralId: string, graceMs: number): Promise<SlaReferralRow | undefined> {
    const [row] = await m.query(
      `SELECT id, user_id, partner_id, product_id, status, expires_at, sla_breached_at,
              TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at) / 1000 AS due_in_ms,
              TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at + INTERVAL ? MICROSECOND) / 1000 AS grace_due_in_ms
         FROM referrals WHERE id = ? FOR UPDATE`,
      [graceMs * 1000, referralId],
    );
    if (!row) return undefined;
    // Codes read without a lock: taking the partner's row lock would serialise every job of that partner.
    const [codes] = await m.query(
      'SELECT pa.code AS partner_code, p.code AS product_code FROM partners pa JOIN card_products p ON p.id = ? WHERE pa.id = ?',
      [row.product_id, row.partner_id],
    );
    return {
      ...row,
      id: String(row.id),
      partner_id: String(row.partner_id),
      partner_code: codes.partner_code,
      product_code: codes.product_code,
    };
  }

  /** Sets the late flag once; false when it was already set (a redelivered check). */
  async flagBreached(m: EntityManager, referralId: string): Promise<boolean> {
    const result = await m.query(
      `UPDATE referrals SET sla_breached_at = NOW(3)
        WHERE id = ? AND sla_breached_at IS NULL AND status NOT IN (${FINAL_LIST}) AND expires_at <= NOW(3)`,
      [referralId],
    );
    return result.affectedRows === 1;
  }

  /** Ends the user's open application with the partner (the pre-screen exclusion), for this referral only. */
  async deleteOpenApplication(m: EntityManager, r: Pick<SlaReferralRow, 'id' | 'user_id' | 'partner_id'>): Promise<void> {
    await m.query(
      `DELETE FROM partner_relationships WHERE user_id = ? AND partner_id = ? AND kind = 'OPEN_APPLICATION' AND referral_id = ?`,
      [r.user_id, r.partner_id, r.id],
    );
  }

  /** Referrals past their decision deadline and not final, in creation order (LIMIT limit + 1 for toPage). */
  async pageLate(
    filter: { partnerCode?: string; productCode?: string },
    after: string | undefined,
    limit: number,
  ): Promise<LateReferralRow[]> {
    const where = [`r.status NOT IN (${FINAL_LIST})`, 'r.expires_at <= NOW(3)'];
    const params: unknown[] = [];
    if (filter.partnerCode) {
      where.push('pa.code = ?');
      params.push(filter.partnerCode);
    }
    if (filter.productCode) {
      where.push('p.code = ?');
      params.push(filter.productCode);
    }
    if (after) {
      where.push('r.id > ?');
      params.push(after);
    }
    const rows = await this.db.query(
      `SELECT r.id, pa.code AS partner_code, p.code AS product_code, r.status, r.created_at, r.expires_at, r.sla_breached_at
         FROM referrals r
         JOIN partners pa ON pa.id = r.partner_id
         JOIN card_products p ON p.id = r.product_id
        WHERE ${where.join(' AND ')}
        ORDER BY r.id LIMIT ?`,
      [...params, limit + 1],
    );
    return rows.map((r: LateReferralRow) => ({ ...r, id: String(r.id) }));
  }
}
