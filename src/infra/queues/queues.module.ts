import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';

import { AppConfigService } from '../config/app-config';
import { QUEUE_NAMES } from './job-catalogue';
import { JobQueues } from './job-queues';
import { BULL_CONNECTION } from './redis.module';

/**
 * Bounded retention keeps Redis memory flat; failed jobs stay longer so they can be inspected. Attempts and backoff
 * are each job kind's own (retry-policies.ts), set where the job is added.
 */
export const DEFAULT_JOB_OPTIONS = {
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600, count: 50_000 },
} as const;

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfigService, BULL_CONNECTION],
      useFactory: (config: AppConfigService, connection: ConnectionOptions) => ({
        connection,
        prefix: config.values.redisPrefix,
        defaultJobOptions: DEFAULT_JOB_OPTIONS,
      }),
    }),
    BullModule.registerQueue(...QUEUE_NAMES.map((name) => ({ name }))),
  ],
  providers: [JobQueues],
  exports: [JobQueues, BullModule],
})
export class QueuesModule {}
