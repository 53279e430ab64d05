import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

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
  /** The application's request id (null for referrals made before it was kept). */
  apply_request_id: string | null;
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

/** A PackagingRow with its pinned record version (null when that version is gone), for batched packaging. */
export type BatchRow = PackagingRow & { snapshot: SnapshotRow | null };

const SNAPSHOT_COLUMNS = [
  'as_of',
  'identity_enc',
  'kyc_level',
  'score',
  'risk_grade',
  'credit_limit',
  'balance',
  'account_opened_at',
  'on_time_count_24m',
  'overdue_count_24m',
  'max_dpd_24m',
  'current_dpd',
  'orders_12m',
  'gmv_12m',
  'return_rate_12m',
  'avg_review_score',
] as const;

/** The SQL of packaging: the referral with what it pins (product version, consent, offer), and the snapshot. */
@Injectable()
export class ReferralPackagingRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The referral's status and partner, unlocked: lets a job whose referral another batch packaged end at once. */
  async peek(referralId: string): Promise<{ status: string; partner_id: string } | undefined> {
    const [row] = await this.dataSource.query('SELECT status, partner_id FROM referrals WHERE id = ?', [referralId]);
    return row;
  }

  /**
   * Claims up to `limit` PACKAGING referrals of one partner from `fromId` upwards, in id order, skipping rows another
   * transaction holds (SKIP LOCKED, MariaDB 10.6+): concurrent jobs split the waiting referrals between them instead of
   * queueing on each other's locks. Walks idx_referrals_partner_status (partner_id, status, id) and locks only
   * referral rows. Jobs run roughly in id order, so claiming upwards from the job's own referral picks the
   * referrals whose jobs come next (and leaves any left-behind ones below to their own jobs).
   */
  async claimBatch(m: EntityManager, partnerId: string, fromId: string, limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await m.query(
      `SELECT id FROM referrals WHERE partner_id = ? AND status = 'PACKAGING' AND id >= ?
        ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
      [partnerId, fromId, limit],
    );
    return rows.map((r) => String(r.id));
  }

  /** Locks one referral, waiting for whoever holds it (a batch packaging it) to commit or roll back. */
  /** Whose referral it is, for a referral the caller has locked (a packaging that failed for good). */
  async ownerOf(m: EntityManager, referralId: string): Promise<{ id: string; user_id: string; partner_id: string; partner_code: string }> {
    const [row] = await m.query(
      'SELECT r.id, r.user_id, r.partner_id, p.code AS partner_code FROM referrals r JOIN partners p ON p.id = r.partner_id WHERE r.id = ?',
      [referralId],
    );
    return row;
  }

  /** Ends the referral's OPEN_APPLICATION relationship, so the user is no longer blocked by it. */
  async endOpenApplication(m: EntityManager, r: { id: string; user_id: string; partner_id: string }): Promise<void> {
    await m.query(
      `DELETE FROM partner_relationships WHERE user_id = ? AND partner_id = ? AND kind = 'OPEN_APPLICATION' AND referral_id = ?`,
      [r.user_id, r.partner_id, r.id],
    );
  }

  async lockStatus(m: EntityManager, referralId: string): Promise<string | undefined> {
    const [row] = await m.query('SELECT status FROM referrals WHERE id = ? FOR UPDATE', [referralId]);
    return row?.status;
  }

  /**
   * Everything packaging reads about the (already locked) referrals, the pinned record version included, in one
   * read: a plain join (locks nothing more). The shared fields are the consent's: the ones its text listed when the
   * applicant agreed (copied from the offer's pinned product version), never a later version's. The pinned version is its snapshot when the ingest has replaced it
   * since (snapshot on write, CreditRecordsRepository.preservePinnedVersions), else the current record, still at
   * that version; one statement reads both from one consistent view, and the ingest copies and replaces in one
   * transaction, so it sees the version either before or after, never neither.
   */
  async batchRows(m: EntityManager, referralIds: string[]): Promise<BatchRow[]> {
    if (referralIds.length === 0) return [];
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT r.id, r.status, r.user_id, r.partner_id, r.apply_request_id, p.code AS partner_code, cp.code AS product_code, r.product_version,
              c.shared_fields, r.record_version, r.run_id, o.created_at AS offer_created_at, r.user_ref, r.created_at,
              r.expires_at, c.id AS consent_id, c.status AS consent_status, c.text_version, c.text_sha256, c.granted_at,
              c.retention_days, COALESCE(s.user_id, cr.user_id) AS s_user_id,
              ${SNAPSHOT_COLUMNS.map((col) => `IF(s.user_id IS NULL, cr.${col}, s.${col}) AS s_${col}`).join(', ')}
         FROM referrals r
         JOIN partners p ON p.id = r.partner_id
         JOIN card_products cp ON cp.id = r.product_id
         JOIN consents c ON c.id = r.consent_id
         JOIN offers o ON o.id = r.offer_id
         LEFT JOIN credit_record_snapshots s ON s.user_id = r.user_id AND s.record_version = r.record_version
         LEFT JOIN credit_records cr ON cr.user_id = r.user_id AND cr.record_version = r.record_version
        WHERE r.id IN (?)
        ORDER BY r.id`,
      [referralIds],
    );
    return rows.map((row) => {
      const snapshot =
        row.s_user_id === null
          ? null
          : (Object.fromEntries(SNAPSHOT_COLUMNS.map((col) => [col, row[`s_${col}`]])) as unknown as SnapshotRow);
      const base = Object.fromEntries(Object.entries(row).filter(([k]) => !k.startsWith('s_'))) as unknown as PackagingRow;
      return { ...base, id: String(base.id), partner_id: String(base.partner_id), snapshot };
    });
  }
}
