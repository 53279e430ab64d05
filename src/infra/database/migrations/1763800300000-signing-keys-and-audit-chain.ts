import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Gateway signing keys (private keys sealed under the master key) and the hash-chained audit log:
 * an insert-only inbox every transaction appends to, the chain itself, its one-row head and signed checkpoints.
 * audit_events and audit_checkpoints refuse UPDATE and DELETE by trigger (docs/AUDIT.md adds the grants).
 */
export class SigningKeysAndAuditChain1763800300000 implements MigrationInterface {
  name = 'SigningKeysAndAuditChain1763800300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE signing_keys (
        kid VARCHAR(64) NOT NULL,
        alg VARCHAR(10) NOT NULL,
        status ENUM('ACTIVE','RETIRED') NOT NULL,
        public_jwk JSON NOT NULL,
        private_key_enc VARBINARY(4096) NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        retired_at DATETIME(3) NULL,
        signed_until DATETIME(3) NULL,
        active_guard TINYINT GENERATED ALWAYS AS (IF(status = 'ACTIVE', 1, NULL)) STORED,
        PRIMARY KEY (kid),
        UNIQUE KEY uq_signing_keys_one_active (active_guard)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    const entryColumns = `
        occurred_at DATETIME(3) NOT NULL,
        actor_type VARCHAR(16) NOT NULL,
        actor_id VARCHAR(128) NOT NULL,
        action VARCHAR(64) NOT NULL,
        resource_type VARCHAR(32) NULL,
        resource_id VARCHAR(128) NULL,
        subject_user_hash CHAR(64) NULL,
        partner_code VARCHAR(32) NULL,
        request_id VARCHAR(128) NULL,
        client_ip VARCHAR(45) NULL,
        outcome ENUM('SUCCESS','DENIED','FAILURE') NOT NULL,
        http_status SMALLINT UNSIGNED NULL,
        details MEDIUMTEXT NULL`;

    await q.query(`
      CREATE TABLE audit_inbox (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        ${entryColumns},
        PRIMARY KEY (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`
      CREATE TABLE audit_events (
        seq BIGINT UNSIGNED NOT NULL,
        ${entryColumns},
        prev_hash CHAR(64) NOT NULL,
        hash CHAR(64) NOT NULL,
        chained_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (seq),
        KEY idx_audit_actor (actor_type, actor_id, seq),
        KEY idx_audit_partner (partner_code, seq),
        KEY idx_audit_subject (subject_user_hash, seq),
        KEY idx_audit_action (action, seq),
        KEY idx_audit_time (occurred_at, seq)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`
      CREATE TABLE audit_chain_head (
        id TINYINT UNSIGNED NOT NULL,
        seq BIGINT UNSIGNED NOT NULL,
        hash CHAR(64) NOT NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        CONSTRAINT chk_audit_chain_head_single CHECK (id = 1)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, REPEAT('0', 64))`);

    await q.query(`
      CREATE TABLE audit_checkpoints (
        seq BIGINT UNSIGNED NOT NULL,
        hash CHAR(64) NOT NULL,
        kid VARCHAR(64) NOT NULL,
        token TEXT NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (seq)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    for (const table of ['audit_events', 'audit_checkpoints']) {
      for (const op of ['UPDATE', 'DELETE']) {
        await q.query(
          `CREATE TRIGGER ${table}_no_${op.toLowerCase()} BEFORE ${op} ON ${table} FOR EACH ROW
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '${table} is append-only'`,
        );
      }
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['audit_events', 'audit_checkpoints']) {
      for (const op of ['update', 'delete']) await q.query(`DROP TRIGGER IF EXISTS ${table}_no_${op}`);
    }
    await q.query('DROP TABLE audit_checkpoints');
    await q.query('DROP TABLE audit_chain_head');
    await q.query('DROP TABLE audit_events');
    await q.query('DROP TABLE audit_inbox');
    await q.query('DROP TABLE signing_keys');
  }
}
