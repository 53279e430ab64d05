import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * card_products: one row per product (code, partner, which version is current).
 * card_product_versions: the full, immutable definition of every version (criteria, shared fields, consent text
 * with its own text_version and SHA-256, terms). A change inserts a version and moves current_version; offers
 * pin (product_id, version), so what a user was screened with and agreed to can always be read back.
 *
 * The exclusion sources read by both criteria evaluators (docs/CRITERIA.md). Created here, minimal; their
 * writers live in other modules:
 * - user_preferences: the applicant's `PUT /v1/me/preferences` (prescreen opt-out);
 * - partner_relationships: maintained by the referral module in the same transaction as referral state changes
 *   (OPEN_APPLICATION while a referral with that partner is not final, CARDHOLDER once approved);
 * - partner_delinquencies: banks' `POST /partner/v1/delinquencies`.
 * user_id columns use the binary collation of credit_records.user_id: ids are case-sensitive, and the EXISTS
 * probes join on an index.
 */
export class CardProductsAndExclusions1763800600000 implements MigrationInterface {
  name = 'CardProductsAndExclusions1763800600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE card_products (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        code VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        current_version INT UNSIGNED NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_card_products_code (code),
        KEY idx_card_products_partner (partner_id),
        CONSTRAINT fk_card_products_partner FOREIGN KEY (partner_id) REFERENCES partners (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE card_product_versions (
        product_id BIGINT UNSIGNED NOT NULL,
        version INT UNSIGNED NOT NULL,
        status ENUM('ACTIVE','SUSPENDED') NOT NULL,
        name VARCHAR(200) NOT NULL,
        criteria JSON NOT NULL,
        shared_fields JSON NOT NULL,
        consent_text MEDIUMTEXT NOT NULL,
        text_version INT UNSIGNED NOT NULL,
        text_sha256 CHAR(64) CHARACTER SET ascii NOT NULL,
        purpose VARCHAR(1000) NOT NULL,
        retention_days SMALLINT UNSIGNED NOT NULL,
        decision_sla_hours SMALLINT UNSIGNED NOT NULL,
        daily_referral_cap INT UNSIGNED NULL,
        offer_ttl_days SMALLINT UNSIGNED NOT NULL,
        delinquency_scope ENUM('ANY_PARTNER','SAME_PARTNER') NOT NULL,
        created_by VARCHAR(128) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (product_id, version),
        CONSTRAINT fk_card_product_versions_product FOREIGN KEY (product_id) REFERENCES card_products (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);

    await q.query(`
      CREATE TABLE user_preferences (
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        prescreen_opt_out TINYINT(1) NOT NULL DEFAULT 0,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (user_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    // referral_id: the referral that made the relationship; its type follows the referral module's key, hence text.
    await q.query(`
      CREATE TABLE partner_relationships (
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        kind ENUM('OPEN_APPLICATION','CARDHOLDER') NOT NULL,
        referral_id VARCHAR(64) CHARACTER SET ascii NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (user_id, partner_id, kind),
        KEY idx_partner_relationships_partner (partner_id, kind)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    await q.query(`
      CREATE TABLE partner_delinquencies (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        partner_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        referral_id VARCHAR(64) CHARACTER SET ascii NULL,
        dpd INT NOT NULL,
        amount_overdue DECIMAL(14,2) NOT NULL,
        as_of DATE NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_partner_delinquencies_user (user_id, partner_id),
        KEY idx_partner_delinquencies_partner (partner_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE partner_delinquencies');
    await q.query('DROP TABLE partner_relationships');
    await q.query('DROP TABLE user_preferences');
    await q.query('DROP TABLE card_product_versions');
    await q.query('DROP TABLE card_products');
  }
}
