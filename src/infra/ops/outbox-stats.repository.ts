import { DataSource, EntityManager } from 'typeorm';

export const OUTBOX_STATUSES = ['PENDING', 'ENQUEUED', 'DONE', 'FAILED', 'PARKED'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

export interface OutboxStats {
  counts: Record<OutboxStatus, number>;
  /** Age of the oldest row still waiting for the relay; null when none waits. A growing value means no relay runs. */
  oldestPendingSeconds: number | null;
}

/**
 * The statements behind `read()`, exported so a test can EXPLAIN them. Each count reads only its status's entries of
 * the (status, id) index (a ref lookup "Using index", no row read), and the oldest pending row is the first entry
 * of that range: a scrape never scans the table, and DONE rows are bounded by their retention (outbox.purge). The
 * index is forced: the other (status, …) indexes serve as well for a count, and a plan guessed from stale statistics
 * must not turn a scrape into a scan.
 */
export const OUTBOX_STATS_QUERIES = {
  counts: OUTBOX_STATUSES.map(
    (s) => `SELECT '${s}' AS status, COUNT(*) AS n FROM outbox FORCE INDEX (idx_outbox_status_id) WHERE status = '${s}'`,
  ).join(' UNION ALL '),
  oldestPending: `SELECT TIMESTAMPDIFF(SECOND, created_at, NOW(3)) AS oldest_s FROM outbox FORCE INDEX (idx_outbox_status_id) WHERE status = 'PENDING' ORDER BY id LIMIT 1`,
};

/** Read-only outbox figures for operators: the /metrics scrape and `cli outbox:status`. */
export class OutboxStatsRepository {
  constructor(private readonly db: DataSource | EntityManager) {}

  async read(): Promise<OutboxStats> {
    const rows: Array<{ status: OutboxStatus; n: string | number }> = await this.db.query(OUTBOX_STATS_QUERIES.counts);
    const counts = Object.fromEntries(OUTBOX_STATUSES.map((s) => [s, 0])) as Record<OutboxStatus, number>;
    for (const row of rows) counts[row.status] = Number(row.n);
    const [oldest]: Array<{ oldest_s: string | number }> = await this.db.query(OUTBOX_STATS_QUERIES.oldestPending);
    return { counts, oldestPendingSeconds: oldest ? Number(oldest.oldest_s) : null };
  }
}
