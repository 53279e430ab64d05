import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Audit retention (docs/AUDIT.md, "Retention and archives"): `audit_archives` records each archived segment of the chain
 * (its seq span, the hash the remaining chain continues from, the archive file's digest and its signed manifest), and
 * the DELETE trigger on audit_events lets exactly one path through: a session that has set @audit_archive_through may
 * delete rows at or below both that value and the last archived seq. Everything else is still refused.
 */
export class AuditArchives1763801800000 implements MigrationInterface {
  name = 'AuditArchives1763801800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_archives (
        last_seq BIGINT UNSIGNED NOT NULL,
        first_seq BIGINT UNSIGNED NOT NULL,
        first_prev_hash CHAR(64) NOT NULL,
        last_hash CHAR(64) NOT NULL,
        event_count BIGINT UNSIGNED NOT NULL,
        file_name VARCHAR(255) NOT NULL,
        file_sha256 CHAR(64) NOT NULL,
        file_bytes BIGINT UNSIGNED NOT NULL,
        kid VARCHAR(64) NOT NULL,
        manifest TEXT NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (last_seq),
        UNIQUE KEY uq_audit_archives_first (first_seq)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    for (const op of ['UPDATE', 'DELETE']) {
      await q.query(
        `CREATE TRIGGER audit_archives_no_${op.toLowerCase()} BEFORE ${op} ON audit_archives FOR EACH ROW
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_archives is append-only'`,
      );
    }
    await q.query('DROP TRIGGER audit_events_no_delete');
    await q.query(AUDIT_EVENTS_ARCHIVED_DELETE_TRIGGER);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER audit_events_no_delete');
    await q.query(
      `CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only'`,
    );
    for (const op of ['update', 'delete']) await q.query(`DROP TRIGGER IF EXISTS audit_archives_no_${op}`);
    await q.query('DROP TABLE audit_archives');
  }
}

/** The DELETE trigger of audit_events from this migration on (exported for specs that drop and restore triggers). */
export const AUDIT_EVENTS_ARCHIVED_DELETE_TRIGGER = `
  CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW
  BEGIN
    IF @audit_archive_through IS NULL OR OLD.seq > @audit_archive_through
       OR OLD.seq > (SELECT COALESCE(MAX(last_seq), 0) FROM audit_archives) THEN
      SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only';
    END IF;
  END`;
