import { Injectable } from '@nestjs/common';
import { randomBytes } from 'crypto';
import { EntityManager } from 'typeorm';

import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';

export const OUTBOX_JOB_PREFIX = 'ob-';

/** A new row's token (16 hex characters): with the id it names the row's job, see outboxJobId. */
export const newOutboxToken = (): string => randomBytes(8).toString('hex');

/**
 * The BullMQ job id of an outbox row: `ob-<id>-<token>` (BullMQ refuses purely numeric custom ids). The random token
 * keeps the id unique when the auto-increment hands out an id again (a restore, a failover that lost commits, two
 * environments on one Redis): BullMQ would drop a new job whose id it still keeps. Rows from before the token
 * have the empty token and keep their old id `ob-<id>`.
 */
export const outboxJobId = (outboxId: string | number, token: string): string =>
  token ? `${OUTBOX_JOB_PREFIX}${outboxId}-${token}` : `${OUTBOX_JOB_PREFIX}${outboxId}`;

/** The row an outbox job id names: its id and token (`undefined` for a job that did not come through the outbox). */
export function outboxRowOf(jobId: string | undefined): { id: string; token: string } | undefined {
  const match = jobId?.match(/^ob-(\d+)(?:-([0-9a-f]+))?$/);
  return match ? { id: match[1], token: match[2] ?? '' } : undefined;
}

export const outboxIdOf = (jobId: string | undefined): string | undefined => outboxRowOf(jobId)?.id;

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
      'INSERT INTO outbox (queue, job_name, job_token, payload, delay_ms) VALUES (?, ?, ?, ?, ?)',
      [queue, name, newOutboxToken(), JSON.stringify(payload), Math.max(0, Math.round(opts.delayMs ?? 0))],
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
    await manager.query('INSERT INTO outbox (queue, job_name, job_token, payload, delay_ms) VALUES ?', [
      payloads.map((p) => [queue, name, newOutboxToken(), JSON.stringify(p), 0]),
    ]);
  }
}
