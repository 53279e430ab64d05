import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Overdue sharing (API.md "Overdue sharing"; docs/OVERDUE.md):
 * - overdue_scans / overdue_scan_chunks: one scan per business date (as_of), split into cardholder user-id ranges
 *   like the pre-screen; a chunk's counts are written with its DONE mark in the transaction that did its work.
 *   active_key is 1 while a scan is QUEUED or RUNNING and NULL otherwise: the unique key allows one active scan.
 * - overdue_accounts: the sharing state of each cardholder referral (CLEAR, NOTICE_PENDING, REPORTED), what the next
 *   scan acts on; last_seq counts the referral's records, so a record's (referral_id, seq) is unique.
 * - overdue_notices: notices to the user (PENDING → SHARED | CANCELLED); pending_key 1 while PENDING allows one
 *   pending notice per referral. sent_at: when the notice sender delivered it (a report waits for it).
 * - overdue_records: what was shared with the bank, immutable but for acknowledged_at; read per partner in creation
 *   order, and per partner and report date (the daily files).
 * user_id columns are binary like credit_records.user_id.
 */
export class OverdueSharing1763801220000 implements MigrationInterface {
  name = 'OverdueSharing1763801220000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE overdue_scans (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        as_of DATE NOT NULL,
        status ENUM('QUEUED','RUNNING','COMPLETED','FAILED') NOT NULL DEFAULT 'QUEUED',
        active_key TINYINT UNSIGNED NULL DEFAULT 1,
        chunk_size INT UNSIGNED NOT NULL,
        chunk_count INT UNSIGNED NULL,
        chunks_done INT UNSIGNED NOT NULL DEFAULT 0,
        total_cardholders BIGINT UNSIGNED NULL,
        failure_reason VARCHAR(500) NULL,
        requested_by VARCHAR(128) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_overdue_scans_active (active_key),
        KEY idx_overdue_scans_status_as_of (status, as_of),
        CONSTRAINT ck_overdue_scans_active CHECK ((status IN ('QUEUED','RUNNING') AND active_key = 1)
          OR (status NOT IN ('QUEUED','RUNNING') AND active_key IS NULL))
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE overdue_scan_chunks (
        scan_id BIGINT UNSIGNED NOT NULL,
        chunk_no INT UNSIGNED NOT NULL,
        user_id_after VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        user_id_upto VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        status ENUM('PENDING','DONE') NOT NULL DEFAULT 'PENDING',
        cardholders INT UNSIGNED NOT NULL DEFAULT 0,
        notices_sent INT UNSIGNED NOT NULL DEFAULT 0,
        notices_cancelled INT UNSIGNED NOT NULL DEFAULT 0,
        reported INT UNSIGNED NOT NULL DEFAULT 0,
        updated INT UNSIGNED NOT NULL DEFAULT 0,
        cured INT UNSIGNED NOT NULL DEFAULT 0,
        suppressed INT UNSIGNED NOT NULL DEFAULT 0,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (scan_id, chunk_no),
        CONSTRAINT fk_overdue_scan_chunks_scan FOREIGN KEY (scan_id) REFERENCES overdue_scans (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE overdue_accounts (
        referral_id BIGINT UNSIGNED NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        status ENUM('CLEAR','NOTICE_PENDING','REPORTED') NOT NULL,
        notice_id BIGINT UNSIGNED NULL,
        last_seq INT UNSIGNED NOT NULL DEFAULT 0,
        dpd_bucket VARCHAR(8) CHARACTER SET ascii NULL,
        overdue_since DATE NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (referral_id),
        KEY idx_overdue_accounts_user (user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE overdue_notices (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        referral_id BIGINT UNSIGNED NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        dpd INT NOT NULL,
        overdue_amount DECIMAL(14,2) NOT NULL,
        state_as_of DATE NOT NULL,
        notice_date DATE NOT NULL,
        share_on DATE NOT NULL,
        status ENUM('PENDING','SHARED','CANCELLED') NOT NULL DEFAULT 'PENDING',
        pending_key TINYINT UNSIGNED NULL DEFAULT 1,
        cancel_reason ENUM('REPAID','CONSENT_REVOKED') NULL,
        scan_id BIGINT UNSIGNED NOT NULL,
        resolved_scan_id BIGINT UNSIGNED NULL,
        resolved_on DATE NULL,
        sent_at DATETIME(3) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        resolved_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_overdue_notices_pending (referral_id, pending_key),
        KEY idx_overdue_notices_user (user_id, id),
        KEY idx_overdue_notices_partner_date (partner_id, notice_date),
        CONSTRAINT ck_overdue_notices_pending CHECK ((status = 'PENDING' AND pending_key = 1) OR (status <> 'PENDING' AND pending_key IS NULL))
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE overdue_records (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        partner_id BIGINT UNSIGNED NOT NULL,
        referral_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        user_ref CHAR(43) CHARACTER SET ascii NOT NULL,
        seq INT UNSIGNED NOT NULL,
        status ENUM('NEW','UPDATED','CURED') NOT NULL,
        dpd INT NOT NULL,
        dpd_bucket VARCHAR(8) CHARACTER SET ascii NULL,
        account_status CHAR(2) CHARACTER SET ascii NOT NULL,
        overdue_amount DECIMAL(14,2) NOT NULL,
        overdue_since DATE NOT NULL,
        state_as_of DATE NOT NULL,
        notice_id BIGINT UNSIGNED NOT NULL,
        notice_sent_at DATETIME(3) NOT NULL,
        report_date DATE NOT NULL,
        scan_id BIGINT UNSIGNED NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        acknowledged_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_overdue_records_seq (referral_id, seq),
        KEY idx_overdue_records_partner (partner_id, id),
        KEY idx_overdue_records_partner_unacked (partner_id, acknowledged_at, id),
        KEY idx_overdue_records_partner_date (partner_id, report_date, id),
        KEY idx_overdue_records_unacked (acknowledged_at, id),
        KEY idx_overdue_records_user (user_id, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['overdue_records', 'overdue_notices', 'overdue_accounts', 'overdue_scan_chunks', 'overdue_scans']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
