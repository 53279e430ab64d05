import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * partner_delinquencies gets its writer (POST /partner/v1/delinquencies, docs/DELINQUENCIES.md):
 * - referral_id becomes the referrals key (BIGINT, as every other table keys referrals) with a foreign key, instead of
 *   the placeholder text column: nothing wrote the table before, so there is nothing to convert. It stays NULL-able
 *   for rows that name no referral (the exclusion tests seed such rows).
 * - One row per report: the same report again (referral, asOf, dpd, amount) is the same record. The unique key is
 *   what makes concurrent copies insert once; it leads with referral_id, so it also serves the foreign key and
 *   reading a referral's reports.
 */
export class PartnerDelinquencyReports1763801250000 implements MigrationInterface {
  name = 'PartnerDelinquencyReports1763801250000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE partner_delinquencies
        MODIFY referral_id BIGINT UNSIGNED NULL,
        ADD UNIQUE KEY uq_partner_delinquencies_report (referral_id, as_of, dpd, amount_overdue),
        ADD CONSTRAINT fk_partner_delinquencies_referral FOREIGN KEY (referral_id) REFERENCES referrals (id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE partner_delinquencies DROP FOREIGN KEY fk_partner_delinquencies_referral');
    await q.query(`
      ALTER TABLE partner_delinquencies
        DROP KEY uq_partner_delinquencies_report,
        MODIFY referral_id VARCHAR(64) CHARACTER SET ascii NULL`);
  }
}
