import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a bank's decision leads to (the decision itself lives on referrals.decision / decided_at):
 * - cardholders: an APPROVED referral makes the user the partner's cardholder; overdue sharing reads it. One row per
 *   referral (the decision job may run twice);
 * - user_notifications: messages for the platform's messaging to pick up (delivered_at set by it); no PII in payload;
 *   one per (referral, kind), so a job run twice notifies once;
 * - decision_files / decision_file_results: uploaded decision files (NDJSON or CSV, <= 10 MiB) and every line's answer.
 */
export class Decisions1763800900000 implements MigrationInterface {
  name = 'Decisions1763800900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE cardholders (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        partner_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        referral_id BIGINT UNSIGNED NOT NULL,
        card_last4 CHAR(4) CHARACTER SET ascii NULL,
        credit_limit DECIMAL(14,2) NULL,
        approved_at DATETIME(3) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_cardholders_referral (referral_id),
        KEY idx_cardholders_partner_user (partner_id, user_id),
        KEY idx_cardholders_user (user_id),
        CONSTRAINT fk_cardholders_referral FOREIGN KEY (referral_id) REFERENCES referrals (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE user_notifications (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        kind VARCHAR(32) CHARACTER SET ascii NOT NULL,
        referral_id BIGINT UNSIGNED NOT NULL,
        payload JSON NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        delivered_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_user_notifications_referral_kind (referral_id, kind),
        KEY idx_user_notifications_user (user_id, id),
        KEY idx_user_notifications_undelivered (delivered_at, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE decision_files (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        partner_id BIGINT UNSIGNED NOT NULL,
        format ENUM('NDJSON','CSV') NOT NULL,
        body MEDIUMTEXT NOT NULL,
        body_sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
        status ENUM('QUEUED','PROCESSING','COMPLETED','FAILED') NOT NULL DEFAULT 'QUEUED',
        total_lines INT UNSIGNED NOT NULL DEFAULT 0,
        processed_lines INT UNSIGNED NOT NULL DEFAULT 0,
        uploaded_by_type VARCHAR(16) NOT NULL,
        uploaded_by_id VARCHAR(128) NOT NULL,
        request_id VARCHAR(128) NULL,
        error VARCHAR(500) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        KEY idx_decision_files_partner (partner_id, id),
        CONSTRAINT fk_decision_files_partner FOREIGN KEY (partner_id) REFERENCES partners (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE decision_file_results (
        file_id BIGINT UNSIGNED NOT NULL,
        line INT UNSIGNED NOT NULL,
        referral_id VARCHAR(64) CHARACTER SET ascii NULL,
        status SMALLINT UNSIGNED NOT NULL,
        problem JSON NULL,
        PRIMARY KEY (file_id, line),
        CONSTRAINT fk_decision_file_results_file FOREIGN KEY (file_id) REFERENCES decision_files (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['decision_file_results', 'decision_files', 'user_notifications', 'cardholders']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
