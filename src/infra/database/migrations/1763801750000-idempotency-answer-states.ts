import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two more states of an Idempotency-Key (docs/RELIABILITY.md, "Decisions, idempotency and the audit inbox"):
 * - COMMITTED: the request's effect committed (set in the effect's own transaction), its answer not stored yet. Unlike
 *   IN_FLIGHT it is never taken for abandoned, so the request cannot run a second time.
 * - ANSWER_NOT_KEPT: the effect committed but its answer could not be stored (over IDEMPOTENCY_MAX_ANSWER_BYTES, or a
 *   server error after the commit); the same key answers 409 idempotency-key-answer-not-kept.
 * Appended to the ENUM, so MariaDB changes only the table's definition, not its rows.
 */
export class IdempotencyAnswerStates1763801750000 implements MigrationInterface {
  name = 'IdempotencyAnswerStates1763801750000';

  async up(q: QueryRunner): Promise<void> {
    await q.query("ALTER TABLE idempotency_keys MODIFY state ENUM('IN_FLIGHT','COMPLETED','COMMITTED','ANSWER_NOT_KEPT') NOT NULL");
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query("DELETE FROM idempotency_keys WHERE state IN ('COMMITTED', 'ANSWER_NOT_KEPT')");
    await q.query("ALTER TABLE idempotency_keys MODIFY state ENUM('IN_FLIGHT','COMPLETED') NOT NULL");
  }
}
