import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

/** A referral whose file is due for deletion, with what its audit entry names. */
export interface DueFileRow {
  id: string;
  user_id: string;
  status: string;
  partner_code: string;
  file_sha256: string | null;
  file_purge_after: Date;
  retention_days: number;
}

/** The retention purge's SQL: which files are due (idx_referrals_file_purge), and their deletion. */
@Injectable()
export class ReferralFilePurgeRepository {
  /**
   * Locks up to `limit` referrals whose file is due, oldest first, skipping rows another transaction holds (a fetch, a
   * concurrent purge): they are due again on the next run. Locks only referral rows; the details are a plain read after.
   */
  async lockDue(m: EntityManager, limit: number): Promise<DueFileRow[]> {
    const locked: Array<{ id: string }> = await m.query(
      `SELECT id FROM referrals
        WHERE file_purge_after <= NOW(3) AND status IN ('DECLINED', 'WITHDRAWN', 'EXPIRED')
        ORDER BY file_purge_after, id LIMIT ? FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    if (locked.length === 0) return [];
    const rows: DueFileRow[] = await m.query(
      `SELECT r.id, r.user_id, r.status, p.code AS partner_code, r.file_sha256, r.file_purge_after, c.retention_days
         FROM referrals r
         JOIN partners p ON p.id = r.partner_id
         JOIN consents c ON c.id = r.consent_id
        WHERE r.id IN (?) ORDER BY r.id`,
      [locked.map((r) => String(r.id))],
    );
    return rows.map((r) => ({ ...r, id: String(r.id) }));
  }

  /** Deletes the (locked) referrals' files; the digest, kid and jti stay: they name what was shared, not its content. */
  async deleteFiles(m: EntityManager, referralIds: string[]): Promise<number> {
    const result = await m.query(
      `UPDATE referrals SET file_enc = NULL, file_purge_after = NULL, file_purged_at = NOW(3)
        WHERE id IN (?) AND file_purge_after IS NOT NULL`,
      [referralIds],
    );
    return result.affectedRows;
  }
}
