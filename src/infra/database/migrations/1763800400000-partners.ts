import { MigrationInterface, QueryRunner } from 'typeorm';

/** Partner banks (the OAuth clients of the partner API) and the public keys that authenticate them. */
export class Partners1763800400000 implements MigrationInterface {
  name = 'Partners1763800400000';

  async up(q: QueryRunner): Promise<void> {
    // code is the OAuth client id: compared byte for byte (utf8mb4_bin), never case-folded.
    await q.query(`
      CREATE TABLE partners (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        code VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        name VARCHAR(200) NOT NULL,
        status ENUM('ACTIVE','SUSPENDED') NOT NULL DEFAULT 'ACTIVE',
        push_endpoint VARCHAR(2048) NULL,
        scopes VARCHAR(255) NOT NULL,
        overdue_threshold_days SMALLINT UNSIGNED NOT NULL DEFAULT 30,
        notice_days SMALLINT UNSIGNED NOT NULL DEFAULT 7,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_partners_code (code)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
    // Public keys only, as normalised JWKs; a partner's private key never reaches the gateway.
    await q.query(`
      CREATE TABLE partner_client_keys (
        partner_id BIGINT UNSIGNED NOT NULL,
        kid VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (partner_id, kid),
        CONSTRAINT fk_partner_client_keys_partner FOREIGN KEY (partner_id) REFERENCES partners (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE partner_client_keys');
    await q.query('DROP TABLE partners');
  }
}
