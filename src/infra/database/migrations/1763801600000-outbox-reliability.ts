import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Outbox reliability (docs/RELIABILITY.md, § Outbox):
 * - `job_token`: a random token per row, part of the BullMQ job id (`ob-<id>-<token>`), so an id the auto-increment
 *   hands out again (a restore, a failover losing commits, a truncate, two environments on one Redis) never names a
 *   job BullMQ still keeps. The default covers raw INSERTs; OutboxService writes a token of its own. Rows already
 *   PENDING or ENQUEUED get the empty token, i.e. the job id they may already have in Redis (`ob-<id>`); the rest
 *   get a random one.
 * - `check_at`: when the sweeper may next ask Redis about an ENQUEUED row: its due time (created_at + delay) when
 *   relayed, pushed forward by each look. (status, check_at) serves the sweep, so a 72 h timer is not asked about
 *   every minute. It replaces (status, enqueued_at), which only the sweep used.
 * - `PARKED`: a row the relay cannot hand to BullMQ (unknown queue or job, a payload that is not an object).
 * - (status, finished_at) serves the purge of DONE rows past their retention.
 */
export class OutboxReliability1763801600000 implements MigrationInterface {
  name = 'OutboxReliability1763801600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE outbox
        MODIFY status ENUM('PENDING','ENQUEUED','DONE','FAILED','PARKED') NOT NULL DEFAULT 'PENDING',
        ADD COLUMN job_token CHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT (LEFT(MD5(RAND()), 16)) AFTER job_name,
        ADD COLUMN check_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) AFTER enqueued_at,
        DROP KEY idx_outbox_status_enqueued,
        ADD KEY idx_outbox_status_check (status, check_at),
        ADD KEY idx_outbox_status_finished (status, finished_at)`);
    // ADD COLUMN evaluates the default once for every existing row: each gets a token of its own here.
    await q.query(`
      UPDATE outbox
         SET job_token = IF(status IN ('PENDING', 'ENQUEUED'), '', LEFT(MD5(CONCAT(id, '-', RAND())), 16)),
             check_at = GREATEST(COALESCE(enqueued_at, created_at), created_at + INTERVAL delay_ms * 1000 MICROSECOND)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE outbox SET status = 'FAILED' WHERE status = 'PARKED'`);
    await q.query(`
      ALTER TABLE outbox
        DROP KEY idx_outbox_status_finished,
        DROP KEY idx_outbox_status_check,
        ADD KEY idx_outbox_status_enqueued (status, enqueued_at),
        DROP COLUMN check_at,
        DROP COLUMN job_token,
        MODIFY status ENUM('PENDING','ENQUEUED','DONE','FAILED') NOT NULL DEFAULT 'PENDING'`);
  }
}
