import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

/** Everything packaging reads about one referral, locked for the packaging transaction. */
export interface PackagingRow {
  id: string;
  status: string;
  user_id: string;
  partner_id: string;
  partner_code: string;
  product_code: string;
  product_version: number;
  shared_fields: string | string[];
  record_version: number;
  run_id: string;
  offer_created_at: Date;
  user_ref: string;
  created_at: Date;
  expires_at: Date;
  consent_id: string;
  consent_status: 'ACTIVE' | 'REVOKED';
  text_version: number;
  text_sha256: string;
  granted_at: Date;
  retention_days: number;
}

export interface SnapshotRow {
  as_of: Date | string;
  identity_enc: Buffer;
  kyc_level: number | null;
  score: number | null;
  risk_grade: string | null;
  credit_limit: string | null;
  balance: string | null;
  account_opened_at: Date | string | null;
  on_time_count_24m: number | null;
  overdue_count_24m: number | null;
  max_dpd_24m: number | null;
  current_dpd: number | null;
  orders_12m: number | null;
  gmv_12m: string | null;
  return_rate_12m: string | null;
  avg_review_score: string | null;
}

/** The SQL of packaging: the referral with what it pins (product version, consent, offer), and the snapshot. */
@Injectable()
export class ReferralPackagingRepository {
  /**
   * Locks the referral row (only that row: FOR UPDATE on the join would also lock the partner and product rows and
   * serialise every packaging of a partner), so concurrent deliveries of the same job queue here and the second
   * one sees READY.
   */
  async lockForPackaging(m: EntityManager, referralId: string): Promise<PackagingRow | undefined> {
    const [locked] = await m.query('SELECT id FROM referrals WHERE id = ? FOR UPDATE', [referralId]);
    if (!locked) return undefined;
    const [row] = await m.query(
      `SELECT r.id, r.status, r.user_id, r.partner_id, p.code AS partner_code, cp.code AS product_code, r.product_version,
              v.shared_fields, r.record_version, r.run_id, o.created_at AS offer_created_at, r.user_ref, r.created_at,
              r.expires_at, c.id AS consent_id, c.status AS consent_status, c.text_version, c.text_sha256, c.granted_at,
              c.retention_days
         FROM referrals r
         JOIN partners p ON p.id = r.partner_id
         JOIN card_products cp ON cp.id = r.product_id
         JOIN card_product_versions v ON v.product_id = r.product_id AND v.version = r.product_version
         JOIN consents c ON c.id = r.consent_id
         JOIN offers o ON o.id = r.offer_id
        WHERE r.id = ?`,
      [referralId],
    );
    return row;
  }

  async snapshot(m: EntityManager, userId: string, recordVersion: number): Promise<SnapshotRow | undefined> {
    const [row] = await m.query(
      `SELECT as_of, identity_enc, kyc_level, score, risk_grade, credit_limit, balance, account_opened_at, on_time_count_24m,
              overdue_count_24m, max_dpd_24m, current_dpd, orders_12m, gmv_12m, return_rate_12m, avg_review_score
         FROM credit_record_snapshots WHERE user_id = ? AND record_version = ?`,
      [userId, recordVersion],
    );
    return row;
  }
}
