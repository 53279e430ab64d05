import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { AppConfigService } from '../config/app-config';
import { JobHandler } from '../queues/job-handler.decorator';

const BATCH = 5_000;
/** Bounds one run; the hourly schedule picks up whatever is left. */
const MAX_BATCHES = 100;

/**
 * Deletes DONE outbox rows finished more than OUTBOX_RETENTION_HOURS ago, oldest first, in short autocommit batches
 * read off the (status, finished_at) index, so no delete holds locks for long. FAILED and PARKED rows stay: they
 * are an operator's to-do list (`outbox:failed`, `outbox:retry`).
 */
@Injectable()
export class OutboxPurge {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfigService,
  ) {}

  @JobHandler('maintenance', 'outbox.purge')
  async purge(): Promise<{ deleted: number }> {
    const hours = this.config.values.outbox.retentionHours;
    let deleted = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const { affectedRows } = await this.dataSource.query(
        `DELETE FROM outbox WHERE status = 'DONE' AND finished_at < NOW(3) - INTERVAL ? HOUR ORDER BY finished_at LIMIT ?`,
        [hours, BATCH],
      );
      deleted += Number(affectedRows);
      if (affectedRows < BATCH) break;
    }
    return { deleted };
  }
}
