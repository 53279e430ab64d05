import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';

/** When a schedule fires: every `everyMs`, or on a cron pattern evaluated in UTC. */
type Timing = { everyMs: number } | { cron: string };

/** One entry per catalogue job (a union over queues; `JobName<QueueName>` alone would be the empty intersection). */
type Schedule = {
  [Q in QueueName]: { [J in JobName<Q>]: { queue: Q; name: J; payload: JobPayload<Q, J> } & Timing }[JobName<Q>];
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
    queue: 'maintenance',
    name: 'outbox.purge',
    everyMs: 60 * 60 * 1000,
    payload: { correlationId: 'schedule:outbox.purge' },
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

/** The schedules that depend on configuration: a cron of `off` removes the scheduler (a worker may have made it before). */
export function configuredSchedules(config: AppConfigService['values']): { off: Schedule[]; on: Schedule[] } {
  const overdue: Schedule = {
    queue: 'overdue',
    name: 'overdue.scan-schedule',
    cron: config.overdue.scanCron,
    payload: { correlationId: 'schedule:overdue.scan-schedule' },
  };
  return config.overdue.scanCron === 'off' ? { off: [overdue], on: [] } : { off: [], on: [overdue] };
}

@Injectable()
export class JobSchedules implements OnApplicationBootstrap {
  private readonly logger = new Logger(JobSchedules.name);

  constructor(
    private readonly queues: JobQueues,
    private readonly config: AppConfigService,
  ) {}

  async onApplicationBootstrap() {
    const { on, off } = configuredSchedules(this.config.values);
    for (const s of [...SCHEDULES, ...on]) {
      const repeat = 'cron' in s ? { pattern: s.cron, tz: 'UTC' } : { every: s.everyMs };
      await this.queues.get(s.queue).upsertJobScheduler(s.name, repeat, { name: s.name, data: s.payload });
    }
    for (const s of off) {
      if (await this.queues.get(s.queue).removeJobScheduler(s.name)) this.logger.log({ job: s.name }, 'schedule turned off');
    }
  }
}
