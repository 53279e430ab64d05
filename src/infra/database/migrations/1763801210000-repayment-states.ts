import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * repayment_states: every repayment state the platform told us, per user and as-of date (a snapshot's `repayment` or
 * a `/repayment-status` line), so that an overdue scan for a past business date D can take the latest state known
 * with asOf ≤ D (docs/OVERDUE.md). credit_records keeps only the current one. Written set-based by the ingest in the
 * transaction of the credit_records write; the same (user, asOf) again replaces the values, as it does in
 * credit_records. Backfilled with the current state of every record: older states were never kept.
 * The columns are NULL-able like credit_records' (registry columns); ingest always writes them.
 */
export class RepaymentStates1763801210000 implements MigrationInterface {
  name = 'RepaymentStates1763801210000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE repayment_states (
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        as_of DATE NOT NULL,
        current_dpd INT NULL,
        overdue_amount DECIMAL(14,2) NULL,
        PRIMARY KEY (user_id, as_of)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      INSERT INTO repayment_states (user_id, as_of, current_dpd, overdue_amount)
      SELECT user_id, current_dpd_as_of, current_dpd, overdue_amount FROM credit_records`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE repayment_states');
  }
}
