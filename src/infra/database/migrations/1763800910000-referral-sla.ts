import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Decision SLA tracking: `sla_breached_at` is set once, by the SLA check job, when a referral is still undecided at
 * its deadline (`expires_at`); it stays set whatever happens next, so statistics can count breaches after the fact.
 * The index serves the operator's late listing (non-final statuses past their deadline).
 */
export class ReferralSla1763800910000 implements MigrationInterface {
  name = 'ReferralSla1763800910000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE referrals ADD COLUMN sla_breached_at DATETIME(3) NULL, ADD KEY idx_referrals_sla (status, expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE referrals DROP KEY idx_referrals_sla, DROP COLUMN sla_breached_at`);
  }
}
