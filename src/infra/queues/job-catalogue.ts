/**
 * The typed job catalogue: every queue, every job name on it and the payload each job carries.
 * Payloads carry ids and a correlation id, never personal data. The worker refuses to start
 * when a job listed here has no handler, or two.
 */
export interface JobCatalogue {
  maintenance: {
    /** Deletes idempotency keys past their retention. */
    'idempotency-keys.purge': BasePayload;
    /** Marks an outbox probe row as delivered: an end-to-end check of outbox → relay → BullMQ → worker. */
    'outbox.probe': BasePayload & { probeId: string };
  };
  audit: {
    /** Signs the audit chain head ({seq, hash}) into audit_checkpoints; a no-op when the head has not moved. */
    'audit.checkpoint': BasePayload;
  };
}

export interface BasePayload {
  /** The request id (or scheduler run) that caused this job, carried into the job's logs. */
  correlationId: string;
}

export type QueueName = keyof JobCatalogue;
export type JobName<Q extends QueueName> = keyof JobCatalogue[Q] & string;
export type JobPayload<Q extends QueueName, J extends JobName<Q>> = JobCatalogue[Q][J];

/** Runtime list of the catalogue (TypeScript interfaces vanish at run time). */
export const JOB_CATALOGUE: { [Q in QueueName]: JobName<Q>[] } = {
  maintenance: ['idempotency-keys.purge', 'outbox.probe'],
  audit: ['audit.checkpoint'],
};

export const QUEUE_NAMES = Object.keys(JOB_CATALOGUE) as QueueName[];
