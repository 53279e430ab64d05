import { Injectable, Logger } from '@nestjs/common';
import { JobsOptions } from 'bullmq';

import { jsonColumn } from '../database/json-column';
import { TransactionRunner } from '../database/transaction.runner';
import { QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';
import { retryJobOptions } from '../queues/retry-policies';
import { outboxJobId } from './outbox.service';

interface OutboxRow {
  id: string;
  queue: QueueName;
  job_name: string;
  payload: string | object;
  delay_ms: number;
  due_in_ms: string | number;
}

/** A job BullMQ gave up on while its outbox row is still ENQUEUED (see OutboxRelay.sweep). */
export interface AbandonedJob {
  outboxId: string;
  queue: QueueName;
  jobName: string;
  payload: object;
  /** BullMQ's reason, e.g. "job stalled more than allowable limit". */
  reason: string;
}

/**
 * Moves committed outbox rows to BullMQ. Rows are claimed with FOR UPDATE SKIP LOCKED so any number of
 * workers relay side by side; the outbox id is the job id, so relaying a row twice creates one job.
 */
@Injectable()
export class OutboxRelay {
  private readonly logger = new Logger(OutboxRelay.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly queues: JobQueues,
  ) {}

  /** Relays one batch of PENDING rows; returns how many were enqueued. */
  async relayBatch(batchSize: number): Promise<number> {
    return this.tx.run(async (m) => {
      const rows: OutboxRow[] = await m.query(
        `SELECT id, queue, job_name, payload, delay_ms,
                TIMESTAMPDIFF(MICROSECOND, NOW(3), created_at + INTERVAL delay_ms * 1000 MICROSECOND) / 1000 AS due_in_ms
           FROM outbox WHERE status = 'PENDING' ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      if (rows.length === 0) return 0;
      await this.addJobs(rows);
      await m.query(
        `UPDATE outbox SET status = 'ENQUEUED', enqueued_at = NOW(3), enqueue_count = enqueue_count + 1
          WHERE id IN (?)`,
        [rows.map((r) => r.id)],
      );
      return rows.length;
    });
  }

  /**
   * Re-enqueues ENQUEUED rows whose job is no longer in Redis (Redis restarted or flushed), and closes rows
   * whose job completed but whose DONE mark was lost. Delayed jobs get their remaining delay back. A row whose job
   * BullMQ failed for good without the worker recording it (a job that stalled more often than allowed never reaches
   * the worker's final-failure hook) is returned as abandoned and left ENQUEUED: the caller tells its owner, then
   * marks it (markAbandoned), so an owner that could not be told is told again by the next sweep.
   */
  async sweep(olderThanSeconds: number, batchSize: number): Promise<{ checked: number; reenqueued: number; abandoned: AbandonedJob[] }> {
    return this.tx.run(async (m) => {
      const rows: OutboxRow[] = await m.query(
        `SELECT id, queue, job_name, payload, delay_ms,
                TIMESTAMPDIFF(MICROSECOND, NOW(3), created_at + INTERVAL delay_ms * 1000 MICROSECOND) / 1000 AS due_in_ms
           FROM outbox
          WHERE status = 'ENQUEUED' AND enqueued_at < NOW(3) - INTERVAL ? SECOND
          ORDER BY enqueued_at LIMIT ? FOR UPDATE SKIP LOCKED`,
        [olderThanSeconds, batchSize],
      );
      const missing: OutboxRow[] = [];
      const completed: string[] = [];
      const present: string[] = [];
      const abandoned: AbandonedJob[] = [];
      for (const row of rows) {
        const queue = this.queues.get(row.queue);
        const state = await queue.getJobState(outboxJobId(row.id));
        if (state === 'unknown') missing.push(row);
        else if (state === 'completed') completed.push(row.id);
        else if (state === 'failed') {
          const reason = (await queue.getJob(outboxJobId(row.id)))?.failedReason || 'failed in the job queue';
          abandoned.push({ outboxId: row.id, queue: row.queue, jobName: row.job_name, payload: jsonColumn(row.payload), reason });
        } else present.push(row.id);
      }
      if (missing.length > 0) {
        this.logger.warn({ count: missing.length }, 'outbox jobs missing from Redis, enqueuing them again');
        await this.addJobs(missing);
      }
      // Abandoned rows too: if their owner cannot be told now, the next look comes after the same wait, not at once.
      const touched = [...missing.map((r) => r.id), ...present, ...abandoned.map((j) => j.outboxId)];
      if (touched.length > 0) {
        // Pushing enqueued_at forward spaces out the next look at the same row.
        await m.query(
          `UPDATE outbox SET enqueued_at = NOW(3),
                  enqueue_count = enqueue_count + IF(id IN (?), 1, 0)
            WHERE id IN (?)`,
          [missing.length ? missing.map((r) => r.id) : [0], touched],
        );
      }
      if (completed.length > 0) {
        await m.query(`UPDATE outbox SET status = 'DONE', finished_at = NOW(3) WHERE id IN (?)`, [completed]);
      }
      return { checked: rows.length, reenqueued: missing.length, abandoned };
    });
  }

  /** An abandoned job's row becomes FAILED with BullMQ's reason, once its owner has been told. */
  async markAbandoned(job: AbandonedJob): Promise<void> {
    this.logger.warn({ outboxId: job.outboxId, queue: job.queue, job: job.jobName, reason: job.reason }, 'job abandoned by the queue');
    await this.tx.run((m) =>
      m.query(`UPDATE outbox SET status = 'FAILED', finished_at = NOW(3), last_error = ? WHERE id = ? AND status = 'ENQUEUED'`, [
        job.reason.slice(0, 1000),
        job.outboxId,
      ]),
    );
  }

  private async addJobs(rows: OutboxRow[]): Promise<void> {
    const byQueue = new Map<QueueName, { name: string; data: object; opts: JobsOptions }[]>();
    for (const row of rows) {
      const jobs = byQueue.get(row.queue) ?? [];
      jobs.push({
        name: row.job_name,
        data: jsonColumn(row.payload),
        opts: {
          ...retryJobOptions(row.queue, row.job_name),
          jobId: outboxJobId(row.id),
          delay: Math.max(0, Math.round(Number(row.due_in_ms))),
        },
      });
      byQueue.set(row.queue, jobs);
    }
    for (const [queue, jobs] of byQueue) await this.queues.get(queue).addBulk(jobs);
  }
}
