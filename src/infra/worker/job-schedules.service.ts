import { Injectable, OnApplicationBootstrap } from '@nestjs/common';

import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';

/** One entry per catalogue job (a union over queues; `JobName<QueueName>` alone would be the empty intersection). */
type Schedule = {
  [Q in QueueName]: { [J in JobName<Q>]: { queue: Q; name: J; everyMs: number; payload: JobPayload<Q, J> } }[JobName<Q>];
}[QueueName];

/** Periodic jobs. Upserting a scheduler is idempotent, so every worker copy may declare them. */
export const SCHEDULES: Schedule[] = [
  {
    queue: 'maintenance',
    name: 'idempotency-keys.purge',
    everyMs: 60 * 60 * 1000,
    payload: { correlationId: 'schedule:idempotency-keys.purge' },
  },
  {
    queue: 'referrals',
    name: 'referral-files.purge',
    everyMs: 60 * 60 * 1000,
    payload: { correlationId: 'schedule:referral-files.purge' },
  },
  {
    queue: 'audit',
    name: 'audit.checkpoint',
    everyMs: 5 * 60 * 1000,
    payload: { correlationId: 'schedule:audit.checkpoint' },
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
