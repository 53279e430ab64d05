import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The overdue scan walks cardholders by user-id range and needs each one's referral and partner (docs/OVERDUE.md,
 * docs/BENCHMARKS.md "Overdue scan"). With idx_cardholders_user (user_id) alone every cardholder cost a second
 * lookup in the clustered index for referral_id and partner_id; this index covers the walk. It replaces
 * idx_cardholders_user, whose lookups by user it serves as its prefix.
 */
export class CardholdersScanIndex1763801260000 implements MigrationInterface {
  name = 'CardholdersScanIndex1763801260000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'ALTER TABLE cardholders DROP KEY idx_cardholders_user, ADD KEY idx_cardholders_user_scan (user_id, referral_id, partner_id)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE cardholders DROP KEY idx_cardholders_user_scan, ADD KEY idx_cardholders_user (user_id)');
  }
}
