import { DataSource, EntityManager } from 'typeorm';

export const OUTBOX_STATUSES = ['PENDING', 'ENQUEUED', 'DONE', 'FAILED'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

export interface OutboxStats {
  counts: Record<OutboxStatus, number>;
  /** Age of the oldest row still waiting for the relay; null when none waits. A growing value means no relay runs. */
  oldestPendingSeconds: number | null;
}

/** Read-only outbox figures for operators: the /metrics scrape and `cli outbox:status`. */
export class OutboxStatsRepository {
  constructor(private readonly db: DataSource | EntityManager) {}

  async read(): Promise<OutboxStats> {
    // One grouped scan of the (status, id) index; statuses without rows are reported as 0, not left out.
    const rows: Array<{ status: OutboxStatus; n: string | number; oldest_s: string | number | null }> = await this.db.query(
      `SELECT status, COUNT(*) AS n,
              TIMESTAMPDIFF(SECOND, MIN(created_at), NOW(3)) AS oldest_s
         FROM outbox GROUP BY status`,
    );
    const counts = Object.fromEntries(OUTBOX_STATUSES.map((s) => [s, 0])) as Record<OutboxStatus, number>;
    let oldestPendingSeconds: number | null = null;
    for (const row of rows) {
      counts[row.status] = Number(row.n);
      if (row.status === 'PENDING' && row.oldest_s !== null) oldestPendingSeconds = Number(row.oldest_s);
    }
    return { counts, oldestPendingSeconds };
  }
}
