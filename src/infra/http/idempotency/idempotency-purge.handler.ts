import { Injectable } from '@nestjs/common';

import { JobHandler } from '../../queues/job-handler.decorator';
import { IdempotencyKeyRepository } from './idempotency-key.repository';

const BATCH = 10_000;
/** Bounds one run; the hourly schedule picks up whatever is left. */
const MAX_BATCHES = 100;

/** Deletes idempotency keys past their retention, in short batches so no delete holds locks for long. */
@Injectable()
export class IdempotencyPurge {
  constructor(private readonly keys: IdempotencyKeyRepository) {}

  @JobHandler('maintenance', 'idempotency-keys.purge')
  async purge(): Promise<{ deleted: number }> {
    let deleted = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const n = await this.keys.purgeExpired(BATCH);
      deleted += n;
      if (n < BATCH) break;
    }
    return { deleted };
  }
}
