import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';

interface Schedule<Q extends QueueName = QueueName> {
  queue: Q;
  name: JobName<Q>;
  everyMs: number;
  payload: JobPayload<Q, JobName<Q>>;
}

/** Periodic jobs. Upserting a scheduler is idempotent, so every worker copy may declare them. */
export const SCHEDULES: Schedule[] = [
  {
    queue: 'maintenance',
    name: 'idempotency-keys.purge',
    everyMs: 60 * 60 * 1000,
    payload: { correlationId: 'schedule:idempotency-keys.purge' },
  },
];

@Injectable()
export class JobSchedules implements OnApplicationBootstrap {
  constructor(private readonly queues: JobQueues) {}

  async onApplicationBootstrap() {
    for (const s of SCHEDULES) {
      await this.queues.get(s.queue).upsertJobScheduler(s.name, { every: s.everyMs }, { name: s.name, data: s.payload });
    }
  }
}
