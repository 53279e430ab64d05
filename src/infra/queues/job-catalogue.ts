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
    /** Deletes DONE outbox rows past OUTBOX_RETENTION_HOURS, in bounded batches. */
    'outbox.purge': BasePayload;
  };
  audit: {
    /** Signs the audit chain head ({seq, hash}) into audit_checkpoints; a no-op when the head has not moved. */
    'audit.checkpoint': BasePayload;
    /** Archives the closed chain segments older than AUDIT_RETENTION_DAYS as signed files, then removes them; a no-op when none is due. */
    'audit.archive': BasePayload;
  };
  events: {
    /** RFC 8935 push of one partner event; `attempt` (from 1) must match the row, so a stale or repeated job is a no-op. */
    'event.push': BasePayload & { eventId: string; attempt: number };
  };
  prescreening: {
    /** Splits a run into user-id-range chunks and writes one chunk job each; a no-op once the run is planned. */
    'prescreen.plan': BasePayload & { runId: string };
    /** Evaluates one chunk of a run in one transaction; a no-op once the chunk is DONE. */
    'prescreen.chunk': BasePayload & { runId: string; chunkNo: number };
  };
  referrals: {
    /** Builds, signs and stores the referral file of a PACKAGING referral (its table key), then READY; a no-op once READY. */
    'referral.package': BasePayload & { referralId: string };
    /** Deletes the sealed files of referrals ended without a card whose consented retention has passed; set-based. */
    'referral-files.purge': BasePayload;
  };
  sla: {
    /** At a referral's decision deadline: flags it late when not final and schedules the expiry; a no-op once flagged or final. */
    'referral.sla-check': BasePayload & { referralId: string };
    /** At deadline + grace: moves a referral still not final to EXPIRED and tells the bank; a no-op once final. */
    'referral.expire': BasePayload & { referralId: string };
  };
  decisions: {
    /** After a final decision: cardholder enrolment (APPROVED), open application ended, user notified; a no-op once applied. */
    'decision.apply': BasePayload & { referralId: string };
    /** Decides an uploaded decision file's lines not answered yet, storing each line's answer; a no-op once COMPLETED. */
    'decision-file.process': BasePayload & { fileId: string };
  };
  overdue: {
    /** The daily schedule's tick (OVERDUE_SCAN_CRON): starts today's scan through the outbox; a no-op once today is scanned. */
    'overdue.scan-schedule': BasePayload;
    /** Splits a scan into cardholder user-id ranges and writes one chunk job each; a no-op once planned. */
    'overdue.scan-plan': BasePayload & { scanId: string };
    /** Judges one chunk's cardholders in one transaction (notices, records, SETs); a no-op once the chunk is DONE. */
    'overdue.scan-chunk': BasePayload & { scanId: string; chunkNo: number };
    /** Delivers one notice to the user through the NoticeSender; a no-op once sent or no longer pending. */
    'overdue.notice-send': BasePayload & { noticeId: string };
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
  maintenance: ['idempotency-keys.purge', 'outbox.probe', 'outbox.purge'],
  audit: ['audit.checkpoint', 'audit.archive'],
  events: ['event.push'],
  prescreening: ['prescreen.plan', 'prescreen.chunk'],
  referrals: ['referral.package', 'referral-files.purge'],
  sla: ['referral.sla-check', 'referral.expire'],
  decisions: ['decision.apply', 'decision-file.process'],
  overdue: ['overdue.scan-schedule', 'overdue.scan-plan', 'overdue.scan-chunk', 'overdue.notice-send'],
};

export const QUEUE_NAMES = Object.keys(JOB_CATALOGUE) as QueueName[];
