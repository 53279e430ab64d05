import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';

export const OUTBOX_JOB_PREFIX = 'ob-';

/** BullMQ refuses purely numeric custom ids, so the outbox id is carried with a prefix. */
export const outboxJobId = (outboxId: string | number) => `${OUTBOX_JOB_PREFIX}${outboxId}`;

export const outboxIdOf = (jobId: string | undefined): string | undefined =>
  jobId?.startsWith(OUTBOX_JOB_PREFIX) ? jobId.slice(OUTBOX_JOB_PREFIX.length) : undefined;

/**
 * The only way business code starts background work: the row is written in the caller's transaction,
 * so the job exists if and only if the business change committed. The relay enqueues it afterwards.
 */
@Injectable()
export class OutboxService {
  async enqueue<Q extends QueueName, J extends JobName<Q>>(
    manager: EntityManager,
    queue: Q,
    name: J,
    payload: JobPayload<Q, J>,
    opts: { delayMs?: number } = {},
  ): Promise<string> {
    if (!manager.queryRunner?.isTransactionActive) {
      throw new Error('OutboxService.enqueue must run inside the business transaction');
    }
    const result: { insertId: number | string } = await manager.query(
      'INSERT INTO outbox (queue, job_name, payload, delay_ms) VALUES (?, ?, ?, ?)',
      [queue, name, JSON.stringify(payload), Math.max(0, Math.round(opts.delayMs ?? 0))],
    );
    return String(result.insertId);
  }

  /** `enqueue` for many jobs of one kind in one multi-row INSERT (same rows, same transaction rule). */
  async enqueueMany<Q extends QueueName, J extends JobName<Q>>(
    manager: EntityManager,
    queue: Q,
    name: J,
    payloads: ReadonlyArray<JobPayload<Q, J>>,
  ): Promise<void> {
    if (!manager.queryRunner?.isTransactionActive) {
      throw new Error('OutboxService.enqueue must run inside the business transaction');
    }
    if (payloads.length === 0) return;
    await manager.query('INSERT INTO outbox (queue, job_name, payload, delay_ms) VALUES ?', [
      payloads.map((p) => [queue, name, JSON.stringify(p), 0]),
    ]);
  }
}
