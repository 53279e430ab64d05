import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Offers are written by the hundred thousand per pre-screen run, so each secondary index is paid on every offer.
 * Of the four, one is kept:
 * - uq_offers_live, the business invariant (one live offer per user and product), now keyed user first:
 *   (user_id, product_id, live_key). The same uniqueness, and it also serves every read by user — the applicant's
 *   offers, the opt-out withdrawal, the pre-screen's "has a live offer" probe (all three columns) and the expiry of
 *   a range of users (user_id range, product filtered on the index) — so idx_offers_user (user_id, live_key, id) goes.
 * - idx_offers_run (run_id): nothing reads offers by run (run counts are kept on the run's chunks);
 * - fk_offers_version (product_id, product_version): the index InnoDB made for the foreign key to
 *   card_product_versions, whose check also cost a locked lookup per offer. Every offer copies its run's pinned
 *   version, which prescreen_runs' own foreign key already guarantees, and versions are never deleted.
 * Measured: 400,000 offer rows inserted by 8 concurrent INSERT … SELECT went from 4.0–4.2 s (two unique/secondary
 * keys) to 3.2–3.3 s (one), docs/BENCHMARKS.md.
 */
export class OffersWriteCost1763801000000 implements MigrationInterface {
  name = 'OffersWriteCost1763801000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE offers DROP FOREIGN KEY fk_offers_version');
    await q.query(
      `ALTER TABLE offers DROP KEY fk_offers_version, DROP KEY idx_offers_run, DROP KEY idx_offers_user,
         DROP KEY uq_offers_live, ADD UNIQUE KEY uq_offers_live (user_id, product_id, live_key)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE offers DROP KEY uq_offers_live, ADD UNIQUE KEY uq_offers_live (product_id, user_id, live_key),
         ADD KEY idx_offers_user (user_id, live_key, id), ADD KEY idx_offers_run (run_id),
         ADD CONSTRAINT fk_offers_version FOREIGN KEY (product_id, product_version) REFERENCES card_product_versions (product_id, version)`,
    );
  }
}
