import { SetMetadata } from '@nestjs/common';

import { JobName, JobPayload, QueueName } from './job-catalogue';

export const JOB_HANDLER = Symbol('JOB_HANDLER');
export const JOB_ABANDONED_HANDLER = Symbol('JOB_ABANDONED_HANDLER');

export interface JobHandlerMetadata {
  queue: QueueName;
  name: string;
}

/** What a handler may do besides reading its payload: report progress, learn which attempt this is. */
export interface JobContext {
  jobId: string;
  attempt: number;
  /** The outbox row behind the job, when it came through the outbox. */
  outboxId?: string;
  progress(value: number | object): Promise<void>;
  /**
   * Puts the job back to wait `delayMs` without running it now and without using one of its attempts (BullMQ's
   * moveToDelayed + DelayedError). Never returns: the handler ends here and runs again from the start later.
   */
  defer(delayMs: number): Promise<never>;
}

type Handler<Q extends QueueName, J extends JobName<Q>> = (payload: JobPayload<Q, J>, ctx: JobContext) => Promise<unknown>;

/**
 * Marks a provider method as the handler of one catalogue job. The payload type follows from the catalogue;
 * handlers must be idempotent because BullMQ delivers at least once.
 */
export function JobHandler<Q extends QueueName, J extends JobName<Q>>(queue: Q, name: J) {
  return <T extends Handler<Q, J>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>) => {
    SetMetadata<typeof JOB_HANDLER, JobHandlerMetadata>(JOB_HANDLER, { queue, name })(target, key, descriptor);
  };
}

/**
 * Marks a provider method as what to do when BullMQ gave up on a catalogue job without its handler's last attempt
 * failing (a job that stalled more often than allowed, or whose final failure was not recorded): the outbox sweeper
 * finds the job failed in Redis, marks its row FAILED and calls this with the payload and BullMQ's reason. Must be
 * idempotent: the handler's own last attempt may already have done the same.
 */
export function JobAbandonedHandler<Q extends QueueName, J extends JobName<Q>>(queue: Q, name: J) {
  return <T extends (payload: JobPayload<Q, J>, reason: string) => Promise<void>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<T>,
  ) => {
    SetMetadata<typeof JOB_ABANDONED_HANDLER, JobHandlerMetadata>(JOB_ABANDONED_HANDLER, { queue, name })(target, key, descriptor);
  };
}
