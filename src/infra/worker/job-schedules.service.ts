import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { withinMs } from '../outbox/outbox-row';
import { JobName, JobPayload, QueueName } from '../queues/job-catalogue';
import { JobQueues } from '../queues/job-queues';
import { retryJobOptions } from '../queues/retry-policies';
import { PollingLoop } from './polling-loop';

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
  {
    queue: 'audit',
    name: 'audit.archive',
    everyMs: 24 * 60 * 60 * 1000,
    payload: { correlationId: 'schedule:audit.archive' },
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

/**
 * Declares the periodic schedules (BullMQ job schedulers) at start-up, each job with its retry policy, and watches
 * them: a scheduler lives only in Redis, so a Redis flush or a restore without persistence loses it, and nothing
 * would run again until a worker restarted (docs/RELIABILITY.md). Every SCHEDULE_WATCH_INTERVAL_MS the watchdog looks
 * for each scheduler and re-upserts the missing ones; any number of workers may do so at once (upsert is idempotent).
 */
@Injectable()
export class JobSchedules implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobSchedules.name);
  private readonly watchdog = new PollingLoop('schedule-watchdog', this.logger);

  constructor(
    private readonly queues: JobQueues,
    private readonly config: AppConfigService,
  ) {}

  async onApplicationBootstrap() {
    const { on, off } = configuredSchedules(this.config.values);
    for (const s of [...SCHEDULES, ...on]) await this.upsert(s);
    for (const s of off) {
      if (await this.queues.get(s.queue).removeJobScheduler(s.name)) this.logger.log({ job: s.name }, 'schedule turned off');
    }
    // Bounded like the outbox's Redis calls: a look that hangs on an unreachable Redis would hang SIGTERM behind it.
    this.watchdog.start(this.config.values.worker.scheduleWatchIntervalMs, async () => {
      await withinMs(this.config.values.outbox.redisTimeoutMs, 'schedule watchdog', this.restoreMissing());
      return false;
    });
  }

  async onModuleDestroy() {
    await this.watchdog.stop();
  }

  /** Re-upserts every schedule missing from Redis; returns their job names. */
  async restoreMissing(): Promise<string[]> {
    const restored: string[] = [];
    for (const s of [...SCHEDULES, ...configuredSchedules(this.config.values).on]) {
      if (await this.queues.get(s.queue).getJobScheduler(s.name)) continue;
      await this.upsert(s);
      restored.push(s.name);
    }
    if (restored.length > 0) this.logger.warn({ jobs: restored }, 'periodic schedules missing from Redis (flushed?): restored');
    return restored;
  }

  private async upsert(s: Schedule): Promise<void> {
    const repeat = 'cron' in s ? { pattern: s.cron, tz: 'UTC' } : { every: s.everyMs };
    await this.queues
      .get(s.queue)
      .upsertJobScheduler(s.name, repeat, { name: s.name, data: s.payload, opts: retryJobOptions(s.queue, s.name) });
  }
}
