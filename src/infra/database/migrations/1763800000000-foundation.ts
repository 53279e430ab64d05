import { MigrationInterface, QueryRunner } from 'typeorm';

/** Infrastructure tables: the transactional outbox and the idempotency-key store. */
export class Foundation1763800000000 implements MigrationInterface {
  name = 'Foundation1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE outbox (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        queue VARCHAR(64) NOT NULL,
        job_name VARCHAR(64) NOT NULL,
        payload JSON NOT NULL,
        status ENUM('PENDING','ENQUEUED','DONE','FAILED') NOT NULL DEFAULT 'PENDING',
        delay_ms INT UNSIGNED NOT NULL DEFAULT 0,
        enqueue_count INT UNSIGNED NOT NULL DEFAULT 0,
        last_error VARCHAR(1000) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        enqueued_at DATETIME(3) NULL,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        KEY idx_outbox_status_id (status, id),
        KEY idx_outbox_status_enqueued (status, enqueued_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE idempotency_keys (
        principal VARCHAR(160) NOT NULL,
        idempotency_key VARCHAR(255) NOT NULL,
        request_hash CHAR(64) NOT NULL,
        state ENUM('IN_FLIGHT','COMPLETED') NOT NULL,
        response_status SMALLINT UNSIGNED NULL,
        response_body MEDIUMTEXT NULL,
        response_content_type VARCHAR(100) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        expires_at DATETIME(3) NOT NULL,
        PRIMARY KEY (principal, idempotency_key),
        KEY idx_idempotency_expires (expires_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE idempotency_keys');
    await q.query('DROP TABLE outbox');
  }
}
