import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { TransactionRunner } from '../database/transaction.runner';
import { JobContext, JobHandler } from '../queues/job-handler.decorator';
import { OutboxService } from './outbox.service';

/**
 * An operator's end-to-end check of the job pipeline (`cli outbox:probe`), e.g. after a Redis restart.
 * The probe row and its outbox row commit together, like any business change; the handler is idempotent:
 * `handled_at` is set once however often the job is delivered, and `deliveries` counts the deliveries.
 */
@Injectable()
export class OutboxProbe {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly dataSource: DataSource,
  ) {}

  async start(label: string, correlationId: string): Promise<{ probeId: string; outboxId: string }> {
    return this.tx.run(async (m) => {
      const { insertId } = await m.query('INSERT INTO outbox_probes (label) VALUES (?)', [label]);
      const probeId = String(insertId);
      const outboxId = await this.outbox.enqueue(m, 'maintenance', 'outbox.probe', { probeId, correlationId });
      return { probeId, outboxId };
    });
  }

  @JobHandler('maintenance', 'outbox.probe')
  async handle(payload: { probeId: string }, _ctx: JobContext): Promise<void> {
    await this.dataSource.query(
      'UPDATE outbox_probes SET handled_at = COALESCE(handled_at, NOW(3)), deliveries = deliveries + 1 WHERE id = ?',
      [payload.probeId],
    );
  }
}
