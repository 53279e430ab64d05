import { DataSource, EntityManager } from 'typeorm';

import { newOutboxToken } from './outbox.service';

/** Statuses an operator may send back to the relay: a job that gave up, a row the relay could not hand over. */
export const RETRYABLE_STATUSES = ['FAILED', 'PARKED'] as const;

export interface StuckOutboxRow {
  id: string;
  queue: string;
  jobName: string;
  status: (typeof RETRYABLE_STATUSES)[number];
  enqueueCount: number;
  finishedAt: Date | null;
  lastError: string | null;
}

export type OutboxRetry =
  | { retried: { id: string; queue: string; jobName: string; previousStatus: string } }
  | { refused: 'not-found' }
  | { refused: 'not-retryable'; status: string };

/** Operator access to the outbox rows that ended without success: listing them and sending one back to the relay. */
export class OutboxAdmin {
  /** FAILED and PARKED rows, newest first (read off the (status, id) index). */
  async listStuck(db: DataSource | EntityManager, limit: number): Promise<StuckOutboxRow[]> {
    const rows: Array<Record<string, unknown>> = await db.query(
      `SELECT id, queue, job_name, status, enqueue_count, finished_at, last_error FROM outbox
        WHERE status IN (?) ORDER BY id DESC LIMIT ?`,
      [RETRYABLE_STATUSES, limit],
    );
    return rows.map((r) => ({
      id: String(r.id),
      queue: String(r.queue),
      jobName: String(r.job_name),
      status: r.status as StuckOutboxRow['status'],
      enqueueCount: Number(r.enqueue_count),
      finishedAt: (r.finished_at as Date | null) ?? null,
      lastError: (r.last_error as string | null) ?? null,
    }));
  }

  /**
   * Sends a FAILED or PARKED row back to PENDING with a new job token: its job id changes, so BullMQ does not take it
   * for the failed job it still keeps under the old id, and the relay hands it over as a new job. `last_error` stays
   * until the job succeeds. Runs in the caller's transaction, with its audit entry.
   */
  async retry(m: EntityManager, id: string): Promise<OutboxRetry> {
    const [row]: Array<{ id: string; queue: string; job_name: string; status: string }> = await m.query(
      'SELECT id, queue, job_name, status FROM outbox WHERE id = ? FOR UPDATE',
      [id],
    );
    if (!row) return { refused: 'not-found' };
    if (!(RETRYABLE_STATUSES as readonly string[]).includes(row.status)) return { refused: 'not-retryable', status: row.status };
    await m.query(
      `UPDATE outbox SET status = 'PENDING', job_token = ?, finished_at = NULL, enqueued_at = NULL, check_at = NOW(3) WHERE id = ?`,
      [newOutboxToken(), id],
    );
    return { retried: { id: String(row.id), queue: row.queue, jobName: row.job_name, previousStatus: row.status } };
  }
}
