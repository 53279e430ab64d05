import { DataSource } from 'typeorm';

import { AUDIT_EVENTS_ARCHIVED_DELETE_TRIGGER } from '../../src/infra/database/migrations/1763801800000-audit-archives';

/**
 * What a DBA with full rights can do: switch the chain's append-only triggers off, change rows, and put the triggers
 * back exactly as the migrations leave them (the DELETE trigger allows the archival path), so the specs after this
 * one in the same database see the real schema.
 */
export async function withoutAuditTriggers(db: DataSource, work: () => Promise<unknown>): Promise<void> {
  for (const op of ['update', 'delete']) await db.query(`DROP TRIGGER IF EXISTS audit_events_no_${op}`);
  try {
    await work();
  } finally {
    await db.query(
      `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only'`,
    );
    await db.query(AUDIT_EVENTS_ARCHIVED_DELETE_TRIGGER);
  }
}
