import { getQueueToken } from '@nestjs/bullmq';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { JobsOptions, Queue } from 'bullmq';

import { MetricsService } from '../metrics/metrics.service';
import { JobName, JobPayload, QUEUE_NAMES, QueueName } from './job-catalogue';

const COUNTED_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

/** Typed access to every queue of the catalogue. Business code enqueues through the outbox, not here. */
@Injectable()
export class JobQueues implements OnModuleInit {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit() {
    for (const name of QUEUE_NAMES) this.queues.set(name, this.moduleRef.get(getQueueToken(name), { strict: false }));
    this.metrics.onScrape(async () => {
      for (const [name, queue] of this.queues) {
        const counts = await queue.getJobCounts(...COUNTED_STATES);
        for (const state of COUNTED_STATES) this.metrics.queueDepth.set({ queue: name, state }, counts[state] ?? 0);
      }
    });
  }

  get(name: QueueName): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`queue ${name} is not in the job catalogue`);
    return queue;
  }

  all(): Queue[] {
    return [...this.queues.values()];
  }

  add<Q extends QueueName, J extends JobName<Q>>(queue: Q, name: J, payload: JobPayload<Q, J>, opts?: JobsOptions) {
    return this.get(queue).add(name, payload, opts);
  }
}
