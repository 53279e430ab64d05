import { Worker } from 'bullmq';

import { AppConfig } from '../../src/infra/config/app-config';
import { QueueName } from '../../src/infra/queues/job-catalogue';
import { bullConnection } from '../../src/infra/queues/redis-connection';

/**
 * What BullMQ does to a job whose workers kept dying, or whose last attempt failed: fails it for good, without any
 * handler or hook of the gateway. The job must be the next one the queue hands out (add it with `lifo: true`).
 */
export async function failJobForGood(config: AppConfig, queue: QueueName, jobId: string, reason: string): Promise<void> {
  const lost = new Worker(queue, null, { connection: bullConnection(config), prefix: config.redisPrefix, autorun: false });
  try {
    const job = await lost.getNextJob('lost-worker');
    expect(job?.id).toBe(jobId);
    await job!.moveToFailed(new Error(reason), 'lost-worker');
  } finally {
    await lost.close();
  }
}
