import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pre-screen runs and the offers they make (docs/PRESCREENING.md).
 *
 * prescreen_runs: one operator request to evaluate every current credit record against one pinned card-product
 * version. chunk_count / chunks_done drive completion: the chunk transaction that brings chunks_done to chunk_count
 * marks the run COMPLETED (a row-locked counter, so two workers finishing the last chunks at once cannot both miss it).
 *
 * prescreen_chunks: the run split by user_id key range (after, upto]; NULL bounds are open, so a user ingested
 * after planning still falls in exactly one chunk. A chunk's counts are written with its DONE mark in the one
 * transaction that evaluated it; run counts are sums over chunks, so a rolled-back chunk never counts anyone twice.
 * prescreen_chunk_reasons: the chunk's users per reason code (only codes with users).
 *
 * offers: one per eligible user and product, pinning the product version and the credit record version (copied
 * into credit_record_snapshots in the same transaction). live_key is 1 while LIVE and NULL otherwise, so the unique
 * key (product_id, user_id, live_key) allows any number of past offers but only one LIVE one per user and product.
 * user_id columns use credit_records' binary collation (case-sensitive ids, index joins on either side).
 * offers.run_id has no foreign key on purpose: its check would take a shared lock on the run row in every chunk
 * transaction, and each chunk ends by updating that row, so concurrent chunks would deadlock one another.
 */
export class Prescreening1763800700000 implements MigrationInterface {
  name = 'Prescreening1763800700000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE prescreen_runs (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        product_id BIGINT UNSIGNED NOT NULL,
        product_version INT UNSIGNED NOT NULL,
        status ENUM('QUEUED','RUNNING','COMPLETED','FAILED') NOT NULL DEFAULT 'QUEUED',
        chunk_size INT UNSIGNED NOT NULL,
        chunk_count INT UNSIGNED NULL,
        chunks_done INT UNSIGNED NOT NULL DEFAULT 0,
        total_users BIGINT UNSIGNED NULL,
        failure_reason VARCHAR(500) NULL,
        requested_by VARCHAR(128) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        started_at DATETIME(3) NULL,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        KEY idx_prescreen_runs_product (product_id, id),
        CONSTRAINT fk_prescreen_runs_version FOREIGN KEY (product_id, product_version)
          REFERENCES card_product_versions (product_id, version)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE prescreen_chunks (
        run_id BIGINT UNSIGNED NOT NULL,
        chunk_no INT UNSIGNED NOT NULL,
        user_id_after VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        user_id_upto VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        status ENUM('PENDING','DONE') NOT NULL DEFAULT 'PENDING',
        evaluated INT UNSIGNED NOT NULL DEFAULT 0,
        eligible INT UNSIGNED NOT NULL DEFAULT 0,
        ineligible INT UNSIGNED NOT NULL DEFAULT 0,
        offers_created INT UNSIGNED NOT NULL DEFAULT 0,
        finished_at DATETIME(3) NULL,
        PRIMARY KEY (run_id, chunk_no),
        CONSTRAINT fk_prescreen_chunks_run FOREIGN KEY (run_id) REFERENCES prescreen_runs (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE prescreen_chunk_reasons (
        run_id BIGINT UNSIGNED NOT NULL,
        chunk_no INT UNSIGNED NOT NULL,
        reason VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        users INT UNSIGNED NOT NULL,
        PRIMARY KEY (run_id, chunk_no, reason),
        CONSTRAINT fk_prescreen_chunk_reasons_chunk FOREIGN KEY (run_id, chunk_no) REFERENCES prescreen_chunks (run_id, chunk_no)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE offers (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        product_id BIGINT UNSIGNED NOT NULL,
        product_version INT UNSIGNED NOT NULL,
        record_version INT UNSIGNED NOT NULL,
        run_id BIGINT UNSIGNED NOT NULL,
        status ENUM('LIVE','CONSUMED','WITHDRAWN','EXPIRED') NOT NULL DEFAULT 'LIVE',
        live_key TINYINT UNSIGNED NULL DEFAULT 1,
        expires_at DATETIME(3) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        status_changed_at DATETIME(3) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_offers_live (product_id, user_id, live_key),
        KEY idx_offers_user (user_id, live_key, id),
        KEY idx_offers_run (run_id),
        CONSTRAINT ck_offers_live_key CHECK ((status = 'LIVE' AND live_key = 1) OR (status <> 'LIVE' AND live_key IS NULL)),
        CONSTRAINT fk_offers_version FOREIGN KEY (product_id, product_version) REFERENCES card_product_versions (product_id, version)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE offers');
    await q.query('DROP TABLE prescreen_chunk_reasons');
    await q.query('DROP TABLE prescreen_chunks');
    await q.query('DROP TABLE prescreen_runs');
  }
}
