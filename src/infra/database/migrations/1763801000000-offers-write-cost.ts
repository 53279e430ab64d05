import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Offers are written by the hundred thousand per pre-screen run, so each secondary index is paid on every offer.
 * Two of the four served no query:
 * - idx_offers_run (run_id): nothing reads offers by run (run counts are kept on the run's chunks);
 * - fk_offers_version (product_id, product_version): the index InnoDB made for the foreign key to
 *   card_product_versions, whose check also cost a locked lookup per offer. Every offer copies its run's pinned
 *   version, which prescreen_runs' own foreign key already guarantees, and versions are never deleted.
 * Kept: uq_offers_live (one live offer per user and product, the business invariant) and idx_offers_user (the
 * applicant's offers, opt-out withdrawal).
 */
export class OffersWriteCost1763801000000 implements MigrationInterface {
  name = 'OffersWriteCost1763801000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE offers DROP FOREIGN KEY fk_offers_version');
    await q.query('ALTER TABLE offers DROP KEY fk_offers_version, DROP KEY idx_offers_run');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE offers ADD KEY idx_offers_run (run_id),
         ADD CONSTRAINT fk_offers_version FOREIGN KEY (product_id, product_version) REFERENCES card_product_versions (product_id, version)`,
    );
  }
}
