import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { acceptLegacyPublicIds, PublicIdPrefix } from '../../common/public-id';

/** The prefixes clients send back in numeric form, with the table whose key each carries (as in the migration). */
const TABLES: Record<string, string> = {
  ref: 'referrals',
  ofr: 'offers',
  cns: 'consents',
  evt: 'partner_events',
  run: 'prescreen_runs',
  dcf: 'decision_files',
};

const RELOAD_MS = 60_000;

/** The ceilings as recorded: the highest key of each prefix that may be named by its numeric public id. */
export async function readLegacyCeilings(db: DataSource | EntityManager): Promise<Partial<Record<PublicIdPrefix, string>>> {
  const rows: { prefix: PublicIdPrefix; max_key: string }[] = await db.query('SELECT prefix, max_key FROM public_id_legacy_ceilings');
  return Object.fromEntries(rows.map((r) => [r.prefix, String(r.max_key)]));
}

/**
 * Raises the ceilings once to the highest keys now (`public-ids:close-legacy`): run when no copy of the version
 * before opaque ids is left, so the numeric ids those copies handed out during a rolling deploy keep resolving too.
 * Refused once done (undefined): raising them later would open numeric access to rows that only ever had opaque ids.
 */
export async function closeLegacyCeilings(db: DataSource): Promise<Partial<Record<PublicIdPrefix, string>> | undefined> {
  return db.transaction(async (m) => {
    const [state] = await m.query('SELECT COUNT(closed_at) AS closed FROM public_id_legacy_ceilings FOR UPDATE');
    if (Number(state.closed) > 0) return undefined;
    for (const [prefix, table] of Object.entries(TABLES)) {
      await m.query(
        `UPDATE public_id_legacy_ceilings SET max_key = GREATEST(max_key, (SELECT COALESCE(MAX(id), 0) FROM ${table})), closed_at = NOW(3)
          WHERE prefix = ?`,
        [prefix],
      );
    }
    return readLegacyCeilings(m);
  });
}

/**
 * Gives the public id codec the legacy ceilings at start-up, and again every minute so that a close-legacy run
 * reaches running processes without a restart.
 */
@Injectable()
export class LegacyPublicIdsLoader implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(LegacyPublicIdsLoader.name);
  private timer?: NodeJS.Timeout;

  constructor(private readonly dataSource: DataSource) {}

  async onModuleInit(): Promise<void> {
    acceptLegacyPublicIds(await readLegacyCeilings(this.dataSource));
    this.timer = setInterval(() => {
      readLegacyCeilings(this.dataSource)
        .then(acceptLegacyPublicIds)
        .catch((error: Error) => this.logger.warn({ err: error.message }, 'could not reload the legacy public id ceilings'));
    }, RELOAD_MS).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }
}
