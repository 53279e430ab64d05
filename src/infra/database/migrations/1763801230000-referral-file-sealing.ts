import { MigrationInterface, QueryRunner } from 'typeorm';

import { loadConfig } from '../../config/load-config';
import { deriveKey, open, seal } from '../../crypto/envelope';

/** ReferralFileSealer's purpose (src/modules/referrals/referral-file.sealer.ts); a migration does not import modules. */
const PURPOSE = 'pii.referral-file';
const CHUNK = 500;

/** The stored-file subkey, derived only when there is a file to convert (an empty database needs no key). */
const fileKey = () => deriveKey(Buffer.from(loadConfig().masterKey, 'base64'), PURPOSE, 'enc');

/**
 * Referral files at rest (security review item 5). A file's payload is the applicant's shared data in base64url, so
 * the clear `file_jws` becomes `file_enc`: AES-256-GCM under the master key, the referral id as AAD. Every file stored
 * before is sealed here, in chunks, and the clear column dropped, so no clear file outlives the upgrade (the migration
 * reads MASTER_KEY like the processes do).
 *
 * Retention: `file_purge_after` is when a referral that ended without a card (DECLINED, WITHDRAWN, EXPIRED) may lose
 * its file — its end plus the consent's retention days; ReferralTransitions sets it on entering those states, the
 * `referrals/referral-files.purge` job deletes the file then and sets `file_purged_at`. Referrals that had already
 * ended get theirs here, from their decision time or the timeline row of their last move.
 * `updated_at = updated_at` keeps the ON UPDATE column: sealing is not a change of the referral.
 */
export class ReferralFileSealing1763801230000 implements MigrationInterface {
  name = 'ReferralFileSealing1763801230000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE referrals
        ADD COLUMN file_enc MEDIUMBLOB NULL AFTER status,
        ADD COLUMN file_purge_after DATETIME(3) NULL,
        ADD COLUMN file_purged_at DATETIME(3) NULL,
        ADD KEY idx_referrals_file_purge (file_purge_after)`);
    await q.query(`
      UPDATE referrals r JOIN consents c ON c.id = r.consent_id
         SET r.file_purge_after = COALESCE(
               r.decided_at,
               (SELECT MAX(t.at) FROM referral_timeline t WHERE t.referral_id = r.id AND t.to_status = r.status),
               r.updated_at) + INTERVAL c.retention_days DAY,
             r.updated_at = r.updated_at
       WHERE r.status IN ('DECLINED', 'WITHDRAWN', 'EXPIRED') AND r.file_jws IS NOT NULL`);
    await convert(q, 'file_jws', 'file_enc', (key, id, file: string) => seal(key, file, id));
    await q.query('ALTER TABLE referrals DROP COLUMN file_jws');
  }

  /** Back to clear files, for the code before this migration; files purged meanwhile stay gone. */
  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE referrals ADD COLUMN file_jws MEDIUMTEXT NULL AFTER status');
    await convert(q, 'file_enc', 'file_jws', (key, id, sealed: Buffer) => open(key, sealed, id).toString('utf8'));
    await q.query(`
      ALTER TABLE referrals
        DROP KEY idx_referrals_file_purge,
        DROP COLUMN file_enc,
        DROP COLUMN file_purge_after,
        DROP COLUMN file_purged_at`);
  }
}

/** Rewrites `from` into `to` for every referral that has one, CHUNK rows a statement, in id order. */
async function convert<T>(q: QueryRunner, from: string, to: string, change: (key: Buffer, id: string, value: T) => Buffer | string) {
  let key: Buffer | undefined;
  for (let after = '0'; ;) {
    const rows: Array<{ id: string; value: T }> = await q.query(
      `SELECT id, ${from} AS value FROM referrals WHERE ${from} IS NOT NULL AND id > ? ORDER BY id LIMIT ?`,
      [after, CHUNK],
    );
    if (rows.length === 0) return;
    key ??= fileKey();
    const params: unknown[] = [];
    for (const r of rows) params.push(BigInt(r.id), change(key, String(r.id), r.value));
    await q.query(
      `UPDATE referrals SET ${to} = CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END, updated_at = updated_at WHERE id IN (?)`,
      [...params, rows.map((r) => BigInt(r.id))],
    );
    after = String(rows[rows.length - 1].id);
  }
}
