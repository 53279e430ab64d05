import { getQueueToken } from '@nestjs/bullmq';
import { BeforeApplicationShutdown, Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { JobsOptions, Queue } from 'bullmq';
import Redis from 'ioredis';

import { AppConfigService } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { JobName, JobPayload, QUEUE_NAMES, QueueName } from './job-catalogue';
import { REDIS } from './redis.module';
import { redisAnswers } from './redis-connection';
import { retryAlertsKey, retryJobOptions } from './retry-policies';

const COUNTED_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

/** A job counts as alerting while its last failure is this recent: one whose end was not recorded drops out by itself. */
export const RETRY_ALERT_WINDOW_MS = 2 * 3600 * 1000;

const SHUTDOWN_PING_TIMEOUT_MS = 1_000;

/** Typed access to every queue of the catalogue. Business code enqueues through the outbox, not here. */
@Injectable()
export class JobQueues implements OnModuleInit, BeforeApplicationShutdown {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly metrics: MetricsService,
    private readonly config: AppConfigService,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  onModuleInit() {
    for (const name of QUEUE_NAMES) this.queues.set(name, this.moduleRef.get(getQueueToken(name), { strict: false }));
    this.metrics.onScrape(async () => {
      for (const [name, queue] of this.queues) {
        const counts = await queue.getJobCounts(...COUNTED_STATES);
        for (const state of COUNTED_STATES) this.metrics.queueDepth.set({ queue: name, state }, counts[state] ?? 0);
        const key = retryAlertsKey(this.config.values.redisPrefix, name);
        await this.redis.zremrangebyscore(key, '-inf', Date.now() - RETRY_ALERT_WINDOW_MS);
        this.metrics.retriesAlerting.set({ queue: name }, await this.redis.zcard(key));
      }
    });
  }

  /**
   * @nestjs/bullmq closes every queue at shutdown, and Queue.close() waits for Redis forever: while Redis does not
   * answer, SIGTERM would never end the process. So first, if Redis is silent, the queues' connections are dropped
   * (not awaited: disconnect() waits on the same silent socket), which lets those closes end.
   */
  async beforeApplicationShutdown() {
    if (await redisAnswers(this.redis, SHUTDOWN_PING_TIMEOUT_MS)) return;
    for (const queue of this.queues.values()) void queue.disconnect().catch(() => undefined);
  }

  get(name: QueueName): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`queue ${name} is not in the job catalogue`);
    return queue;
  }

  all(): Queue[] {
    return [...this.queues.values()];
  }

  /** Adds a job with its kind's retry policy; `opts` may override it. */
  add<Q extends QueueName, J extends JobName<Q>>(queue: Q, name: J, payload: JobPayload<Q, J>, opts?: JobsOptions) {
    return this.get(queue).add(name, payload, { ...retryJobOptions(queue, name), ...opts });
  }
}
