import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for the compliance search (GET /v1/compliance/audit-events), one per filter, each ending in seq so that
 * "filter = x AND seq > cursor ORDER BY seq LIMIT n" reads n index entries in order, with no sort:
 * - (actor_type, seq) and (actor_id, seq) replace (actor_type, actor_id, seq): that one served only both filters
 *   together; alone, actorType sorted every row of that type (most of the trail is partner calls) and actorId could
 *   not use it at all. Together the optimiser takes the actor_id index, which is as selective.
 * - (outcome, seq): DENIED and FAILURE are the rare, interesting answers; without it they scanned the chain.
 * docs/AUDIT.md shows the plan of each filter.
 */
export class AuditSearchIndexes1763801510000 implements MigrationInterface {
  name = 'AuditSearchIndexes1763801510000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE audit_events
        DROP KEY idx_audit_actor,
        ADD KEY idx_audit_actor_type (actor_type, seq),
        ADD KEY idx_audit_actor_id (actor_id, seq),
        ADD KEY idx_audit_outcome (outcome, seq)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE audit_events
        DROP KEY idx_audit_outcome,
        DROP KEY idx_audit_actor_id,
        DROP KEY idx_audit_actor_type,
        ADD KEY idx_audit_actor (actor_type, actor_id, seq)`);
  }
}
