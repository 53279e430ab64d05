import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The signed daily overdue report files (API.md "Overdue report file"; docs/OVERDUE.md "Signed daily files"): built
 * once per partner and report date, stored with their digest so that asking again returns byte-identical files.
 * A version is one complete set of parts, inserted in one transaction; a new version is built only when the day's
 * records changed (a later scan of the same date added some) or the stored one is about to expire. Old versions stay:
 * they are what was handed out (the fetch's audit entry names their digests). The file is kept in clear: it holds
 * nothing that overdue_records does not already hold in clear (userRef, no identity).
 * idx_overdue_records_notice: the overdue statistics follow each notice to its records (shared, cured).
 */
export class OverdueReportFiles1763801270000 implements MigrationInterface {
  name = 'OverdueReportFiles1763801270000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE overdue_report_files (
        partner_id BIGINT UNSIGNED NOT NULL,
        report_date DATE NOT NULL,
        version INT UNSIGNED NOT NULL,
        part INT UNSIGNED NOT NULL,
        parts INT UNSIGNED NOT NULL,
        record_count INT UNSIGNED NOT NULL,
        total_records INT UNSIGNED NOT NULL,
        last_record_id BIGINT UNSIGNED NOT NULL,
        kid VARCHAR(64) CHARACTER SET ascii NOT NULL,
        jti VARCHAR(64) CHARACTER SET ascii NOT NULL,
        file LONGTEXT CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        file_sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (partner_id, report_date, version, part)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query('ALTER TABLE overdue_records ADD KEY idx_overdue_records_notice (notice_id, status)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE overdue_records DROP KEY idx_overdue_records_notice');
    await q.query('DROP TABLE overdue_report_files');
  }
}
