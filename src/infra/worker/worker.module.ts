import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';

import { OutboxModule } from '../outbox/outbox.module';
import { JobSchedules } from './job-schedules.service';
import { JobWorkers } from './job-workers.service';
import { OutboxPump } from './outbox-pump.service';
import { RedisPolicyCheck } from './redis-policy.check';
import { WorkerMetricsServer } from './worker-metrics.server';

/** Everything only the worker role runs: BullMQ workers, the outbox relay and sweeper, periodic schedules. */
@Module({
  imports: [DiscoveryModule, OutboxModule],
  providers: [RedisPolicyCheck, JobWorkers, OutboxPump, JobSchedules, WorkerMetricsServer],
})
export class WorkerModule {}
