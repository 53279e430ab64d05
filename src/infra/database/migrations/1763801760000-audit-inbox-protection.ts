import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Entries not yet chained are protected like the chain (docs/AUDIT.md, "Append-only"):
 * - audit_inbox refuses UPDATE, always;
 * - audit_inbox refuses DELETE of a row that is not in the chain: the chainer's DELETE passes because the same
 *   transaction has just inserted the row's event, which now names it (`audit_events.inbox_id`, not hashed), and has
 *   the row's occurred_at. One probe of idx_audit_inbox_id per row: occurred_at alone is not selective, since one
 *   multi-row append gives thousands of entries the same NOW(3).
 * Nobody but the chainer can remove an entry without putting it in the chain, where verify sees it. A chainer of the
 * previous version (which does not set inbox_id) fails its batch and retries until it is replaced.
 */
export class AuditInboxProtection1763801760000 implements MigrationInterface {
  name = 'AuditInboxProtection1763801760000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE audit_events ADD COLUMN inbox_id BIGINT UNSIGNED NULL, ADD KEY idx_audit_inbox_id (inbox_id)');
    await q.query(
      `CREATE TRIGGER audit_inbox_no_update BEFORE UPDATE ON audit_inbox FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_inbox entries cannot change'`,
    );
    await q.query(
      `CREATE TRIGGER audit_inbox_chained_delete_only BEFORE DELETE ON audit_inbox FOR EACH ROW
       BEGIN
         IF NOT EXISTS (SELECT 1 FROM audit_events WHERE inbox_id = OLD.id AND occurred_at = OLD.occurred_at) THEN
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_inbox entries leave only by being chained';
         END IF;
       END`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER IF EXISTS audit_inbox_chained_delete_only');
    await q.query('DROP TRIGGER IF EXISTS audit_inbox_no_update');
    await q.query('ALTER TABLE audit_events DROP KEY idx_audit_inbox_id, DROP COLUMN inbox_id');
  }
}
