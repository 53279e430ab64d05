import { MigrationInterface, QueryRunner } from 'typeorm';

/** Each public id prefix that clients send back, with the table whose key it carries. */
const TABLES: Record<string, string> = {
  ref: 'referrals',
  ofr: 'offers',
  cns: 'consents',
  evt: 'partner_events',
  run: 'prescreen_runs',
  dcf: 'decision_files',
};

/**
 * Public ids become opaque (common/public-id.ts). Ids handed out before in numeric form (`ref_123`) must keep
 * resolving, but only those: this records, per prefix, the highest key that existed when the new form arrived, and
 * a numeric id above it is unknown. Without the ceiling a partner could probe numbers until its own new rows
 * answered, and learn their keys, which is what the opaque form hides. Copies of the previous version still running
 * during a rolling deploy go on handing out numeric ids; `public-ids:close-legacy`, run once when they are gone,
 * raises the ceilings to cover those (closed_at records that it ran).
 */
export class PublicIdLegacyCeilings1763801300000 implements MigrationInterface {
  name = 'PublicIdLegacyCeilings1763801300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE public_id_legacy_ceilings (
        prefix CHAR(3) NOT NULL PRIMARY KEY,
        max_key BIGINT UNSIGNED NOT NULL,
        closed_at DATETIME(3) NULL
      ) ENGINE=InnoDB`);
    for (const [prefix, table] of Object.entries(TABLES)) {
      await q.query(`INSERT INTO public_id_legacy_ceilings (prefix, max_key) SELECT ?, COALESCE(MAX(id), 0) FROM ${table}`, [prefix]);
    }
    // A new installation never handed out a numeric id: nothing to close later.
    const [{ total }] = await q.query('SELECT COALESCE(SUM(max_key), 0) AS total FROM public_id_legacy_ceilings');
    if (Number(total) === 0) await q.query('UPDATE public_id_legacy_ceilings SET closed_at = NOW(3)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE public_id_legacy_ceilings');
  }
}
