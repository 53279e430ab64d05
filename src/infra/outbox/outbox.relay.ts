import { Injectable, Logger } from '@nestjs/common';
import { JobsOptions } from 'bullmq';
import { EntityManager } from 'typeorm';

import { AppConfigService } from '../config/app-config';
import { TransactionRunner } from '../database/transaction.runner';
import { QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';
import { retryJobOptions } from '../queues/retry-policies';
import { outboxJobId } from './outbox.service';
import { checkOutboxRow, OUTBOX_ROW_COLUMNS, OutboxRow, RelayableRow, withinMs } from './outbox-row';

/** A job BullMQ gave up on while its outbox row is still ENQUEUED (see OutboxRelay.sweep). */
export interface AbandonedJob {
  outboxId: string;
  /** The row's job token: marking it FAILED must not touch a newer row or run of the same id. */
  jobToken: string;
  queue: QueueName;
  jobName: string;
  payload: object;
  /** BullMQ's reason, e.g. "job stalled more than allowable limit". */
  reason: string;
}

/** `(id, token)` pairs as one value, for `CONCAT(id, '-', job_token) IN (?)` next to an indexed `id IN (?)`. */
const rowKeys = (rows: Array<{ id: string; job_token: string }>) => rows.map((r) => `${r.id}-${r.job_token}`);

/**
 * Moves committed outbox rows to BullMQ. Rows are claimed with FOR UPDATE SKIP LOCKED so any number of workers relay
 * side by side, and marked in the claim's short transaction; Redis is called only after it committed, each call
 * bounded (OUTBOX_REDIS_TIMEOUT_MS), so a Redis outage never pins a transaction or hangs a shutdown. The job id is
 * `ob-<id>-<token>`, so relaying a row twice creates one job, and a reused id a new one.
 */
@Injectable()
export class OutboxRelay {
  private readonly logger = new Logger(OutboxRelay.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly queues: JobQueues,
    private readonly config: AppConfigService,
  ) {}

  /** Relays one batch of PENDING rows; returns how many rows it took (enqueued or parked). */
  async relayBatch(batchSize: number): Promise<number> {
    const { claimed, relayable } = await this.tx.run(async (m) => {
      const rows: OutboxRow[] = await m.query(
        `SELECT ${OUTBOX_ROW_COLUMNS} FROM outbox WHERE status = 'PENDING' ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      const relayable = await this.parkRefused(m, rows);
      if (relayable.length > 0) {
        // ENQUEUED before the job exists: if the add below fails and the hand-back too, the sweeper re-adds the job
        // once it is due (check_at), as for a job Redis lost.
        await m.query(
          `UPDATE outbox SET status = 'ENQUEUED', enqueued_at = NOW(3), enqueue_count = enqueue_count + 1,
                  check_at = GREATEST(NOW(3), created_at + INTERVAL delay_ms * 1000 MICROSECOND)
            WHERE id IN (?)`,
          [relayable.map((r) => r.id)],
        );
      }
      return { claimed: rows.length, relayable };
    });
    if (relayable.length === 0) return claimed;
    try {
      await this.addJobs(relayable);
    } catch (error) {
      // Handed back for the next relay step rather than the sweeper's later look. Adding again is safe: same job id.
      await this.tx
        .run((m) =>
          m.query(`UPDATE outbox SET status = 'PENDING' WHERE status = 'ENQUEUED' AND id IN (?) AND CONCAT(id, '-', job_token) IN (?)`, [
            relayable.map((r) => r.id),
            rowKeys(relayable),
          ]),
        )
        .catch((e: Error) => this.logger.warn({ err: e.message }, 'relayed rows not handed back; the sweeper will add their jobs'));
      throw error;
    }
    return claimed;
  }

  /**
   * Looks at ENQUEUED rows that are due (check_at: created_at + delay when relayed, pushed forward by each look) and
   * at least `olderThanSeconds` past it: re-enqueues those whose job is no longer in Redis (Redis restarted or
   * flushed; a delayed job comes back when due, with no delay), and closes rows whose job completed but whose DONE
   * mark was lost. A job not yet due is not asked about: a 72 h timer costs nothing until its hour. Rows are claimed
   * (check_at moved forward) in a short transaction, and Redis asked after it committed.
   * A row whose job BullMQ failed for good without the worker recording it (a job that stalled more often than
   * allowed never reaches the worker's final-failure hook) is returned as abandoned and left ENQUEUED: the caller
   * tells its owner, then marks it (markAbandoned), so an owner that could not be told is told again by a later sweep.
   */
  async sweep(olderThanSeconds: number, batchSize: number): Promise<{ checked: number; reenqueued: number; abandoned: AbandonedJob[] }> {
    const rows = await this.tx.run(async (m) => {
      const due: OutboxRow[] = await m.query(
        `SELECT ${OUTBOX_ROW_COLUMNS} FROM outbox
          WHERE status = 'ENQUEUED' AND check_at < NOW(3) - INTERVAL ? SECOND
          ORDER BY check_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [olderThanSeconds, batchSize],
      );
      const relayable = await this.parkRefused(m, due);
      // The next look at the same row comes after the same wait, whatever this one finds or fails on.
      if (relayable.length > 0) await m.query(`UPDATE outbox SET check_at = NOW(3) WHERE id IN (?)`, [relayable.map((r) => r.id)]);
      return relayable;
    });

    const missing: RelayableRow[] = [];
    const completed: RelayableRow[] = [];
    const abandoned: AbandonedJob[] = [];
    for (const row of rows) {
      const queue = this.queues.get(row.queue);
      const jobId = outboxJobId(row.id, row.job_token);
      const state = await this.redis('job state', queue.getJobState(jobId));
      if (state === 'unknown') missing.push(row);
      else if (state === 'completed') completed.push(row);
      else if (state === 'failed') {
        const reason = (await this.redis('failed job', queue.getJob(jobId)))?.failedReason || 'failed in the job queue';
        abandoned.push({ outboxId: row.id, jobToken: row.job_token, queue: row.queue, jobName: row.job_name, payload: row.data, reason });
      }
    }
    if (missing.length > 0) {
      this.logger.warn({ count: missing.length }, 'outbox jobs missing from Redis, enqueuing them again');
      await this.addJobs(missing);
      await this.tx.run((m) =>
        m.query(`UPDATE outbox SET enqueued_at = NOW(3), enqueue_count = enqueue_count + 1 WHERE status = 'ENQUEUED' AND id IN (?)`, [
          missing.map((r) => r.id),
        ]),
      );
    }
    if (completed.length > 0) {
      await this.tx.run((m) =>
        m.query(
          `UPDATE outbox SET status = 'DONE', finished_at = NOW(3)
            WHERE status = 'ENQUEUED' AND id IN (?) AND CONCAT(id, '-', job_token) IN (?)`,
          [completed.map((r) => r.id), rowKeys(completed)],
        ),
      );
    }
    return { checked: rows.length, reenqueued: missing.length, abandoned };
  }

  /** An abandoned job's row becomes FAILED with BullMQ's reason, once its owner has been told. */
  async markAbandoned(job: AbandonedJob): Promise<void> {
    this.logger.warn({ outboxId: job.outboxId, queue: job.queue, job: job.jobName, reason: job.reason }, 'job abandoned by the queue');
    await this.tx.run((m) =>
      m.query(
        `UPDATE outbox SET status = 'FAILED', finished_at = NOW(3), last_error = ? WHERE id = ? AND job_token = ? AND status = 'ENQUEUED'`,
        [job.reason.slice(0, 1000), job.outboxId, job.jobToken],
      ),
    );
  }

  /** Parks the rows no relay of this build can hand to BullMQ, with the reason; returns the others. */
  private async parkRefused(m: EntityManager, rows: OutboxRow[]): Promise<RelayableRow[]> {
    const relayable: RelayableRow[] = [];
    for (const row of rows) {
      const checked = checkOutboxRow(row);
      if ('ok' in checked) {
        relayable.push(checked.ok);
        continue;
      }
      this.logger.error({ outboxId: row.id, reason: checked.refused }, 'outbox row parked: the relay cannot hand it to BullMQ');
      await m.query(`UPDATE outbox SET status = 'PARKED', finished_at = NOW(3), last_error = ? WHERE id = ?`, [checked.refused, row.id]);
    }
    return relayable;
  }

  private async addJobs(rows: RelayableRow[]): Promise<void> {
    const byQueue = new Map<QueueName, { name: string; data: object; opts: JobsOptions }[]>();
    for (const row of rows) {
      const jobs = byQueue.get(row.queue) ?? [];
      jobs.push({
        name: row.job_name,
        data: row.data,
        opts: {
          ...retryJobOptions(row.queue, row.job_name),
          jobId: outboxJobId(row.id, row.job_token),
          delay: Math.max(0, Math.round(Number(row.due_in_ms))),
        },
      });
      byQueue.set(row.queue, jobs);
    }
    for (const [queue, jobs] of byQueue) await this.redis(`add to ${queue}`, this.queues.get(queue).addBulk(jobs));
  }

  private redis<T>(what: string, call: Promise<T>): Promise<T> {
    return withinMs(this.config.values.outbox.redisTimeoutMs, `outbox ${what}`, call);
  }
}
