import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Delivery bookkeeping of the partner event feed (docs/DECISIONS.md "Partner event feed"):
 * - set_error_at: when the bank answered an event with a setErr in a poll (answered events are not handed out again);
 * - push_last_attempt_at / push_dead_at: when the last push attempt ran, and when the retry schedule ran out;
 * The dead-letter listing uses the existing idx_partner_events_push (partner_id, push_status, id).
 */
export class PartnerEventDelivery1763800830000 implements MigrationInterface {
  name = 'PartnerEventDelivery1763800830000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE partner_events
        ADD COLUMN set_error_at DATETIME(3) NULL AFTER set_error,
        ADD COLUMN push_last_attempt_at DATETIME(3) NULL AFTER push_last_error,
        ADD COLUMN push_dead_at DATETIME(3) NULL AFTER pushed_at`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE partner_events DROP COLUMN push_dead_at, DROP COLUMN push_last_attempt_at, DROP COLUMN set_error_at');
  }
}
