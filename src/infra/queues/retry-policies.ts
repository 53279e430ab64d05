import type { BackoffStrategy, JobsOptions } from 'bullmq';

import { JOB_CATALOGUE, JobName, QueueName } from './job-catalogue';

/**
 * How often and how long BullMQ retries a job that throws (docs/RELIABILITY.md, "Retry policies and schedules").
 * Delays grow exponentially from `firstDelayMs` to `maxDelayMs`, with up to 20 % jitter below, so a whole backlog
 * failing on the same outage does not come back in one wave. Past `alertAfterAttempts` failed attempts each further
 * failure is logged as an error and counted in the `job_retries_alerting` gauge, until the job succeeds or gives up.
 */
export interface RetryPolicy {
  /** What the job's meaning asks for; decides the numbers below (see the helpers). */
  kind: 'push' | 'state-change' | 'maintenance';
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
  alertAfterAttempts: number;
}

/** Jitter takes at most this share off a delay: attempt counts are computed from the shortest possible delays. */
const JITTER = 0.2;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The delay before the retry that follows failed attempt `failed` (from 1), before jitter and scale. */
export function backoffDelayMs(policy: RetryPolicy, failed: number): number {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(failed - 1, 40));
}

/**
 * A job that must be retried for at least `forMs` (a push to a partner: it may be down for a day): as many attempts
 * as it takes for the shortest (fully jittered) delays to add up to `forMs`.
 */
export function pushPolicy(forMs: number, firstDelayMs = 5_000, maxDelayMs = HOUR): RetryPolicy {
  const policy: RetryPolicy = { kind: 'push', attempts: 1, firstDelayMs, maxDelayMs, alertAfterAttempts: 10 };
  for (let waited = 0; waited < forMs; policy.attempts++) waited += backoffDelayMs(policy, policy.attempts) * (1 - JITTER);
  return policy;
}

/**
 * A job that changes state the system relies on (an expiry, an approval's cardholder row, a referral's file): retried
 * until it succeeds. 100,000 attempts at most 10 minutes apart is about two years: in practice only an operator ends
 * it (or BullMQ, for a job that stalls too often); the alert after ~17 minutes of failures is what gets it looked at.
 */
export const UNTIL_DONE: RetryPolicy = {
  kind: 'state-change',
  attempts: 100_000,
  firstDelayMs: 2_000,
  maxDelayMs: 10 * MINUTE,
  alertAfterAttempts: 10,
};

/** Periodic housekeeping: the next run does the same work, so a few attempts, and an alert when they are used up. */
export const MAINTENANCE: RetryPolicy = {
  kind: 'maintenance',
  attempts: 3,
  firstDelayMs: 10_000,
  maxDelayMs: MINUTE,
  alertAfterAttempts: 3,
};

/** Every catalogue job's policy: the compiler refuses a job kind without one. */
export const RETRY_POLICIES: { [Q in QueueName]: { [J in JobName<Q>]: RetryPolicy } } = {
  maintenance: {
    'idempotency-keys.purge': MAINTENANCE,
    'outbox.probe': { ...MAINTENANCE, attempts: 5 },
    'outbox.purge': MAINTENANCE,
  },
  // Archival resumes where an interrupted run stopped; tomorrow's run does the same work.
  audit: { 'audit.checkpoint': MAINTENANCE, 'audit.archive': MAINTENANCE },
  // The push itself counts its HTTP attempts in MySQL; this covers a handler that throws (its database is down).
  events: { 'event.push': pushPolicy(24 * HOUR) },
  prescreening: { 'prescreen.plan': UNTIL_DONE, 'prescreen.chunk': UNTIL_DONE },
  referrals: { 'referral.package': UNTIL_DONE, 'referral-files.purge': MAINTENANCE },
  sla: { 'referral.sla-check': UNTIL_DONE, 'referral.expire': UNTIL_DONE },
  decisions: { 'decision.apply': UNTIL_DONE, 'decision-file.process': UNTIL_DONE },
  overdue: {
    // A missed tick is a missed day's scan: until done, like the scan it starts.
    'overdue.scan-schedule': UNTIL_DONE,
    'overdue.scan-plan': UNTIL_DONE,
    'overdue.scan-chunk': UNTIL_DONE,
    // A report to the bank waits for the notice, so delivering it is a state change, not a best-effort push.
    'overdue.notice-send': UNTIL_DONE,
  },
};

/** The policy of a job; a name this release does not know (a newer release's row during a rolling deploy) retries until done. */
export function retryPolicyOf(queue: QueueName, name: string): RetryPolicy {
  const known = JOB_CATALOGUE[queue] as readonly string[] | undefined;
  if (!known?.includes(name)) return UNTIL_DONE;
  return (RETRY_POLICIES[queue] as Record<string, RetryPolicy>)[name];
}

/** The backoff type the workers' strategy answers (retryBackoffStrategy). */
export const POLICY_BACKOFF = 'retry-policy';

/** The BullMQ options that carry a job's policy: set wherever a catalogue job is added (relay, schedulers, JobQueues.add). */
export function retryJobOptions(queue: QueueName, name: string): Pick<JobsOptions, 'attempts' | 'backoff'> {
  return { attempts: retryPolicyOf(queue, name).attempts, backoff: { type: POLICY_BACKOFF } };
}

/**
 * The workers' custom backoff (BullMQ `settings.backoffStrategy`): the job's policy's capped exponential delay with
 * jitter, times `scale` (JOB_RETRY_DELAY_SCALE: 1 in production; tests shrink the delays to milliseconds).
 */
export function retryBackoffStrategy(queue: QueueName, scale: number, random: () => number = Math.random): BackoffStrategy {
  return (attemptsMade, _type, _err, job) => {
    const delay = backoffDelayMs(retryPolicyOf(queue, job?.name ?? ''), attemptsMade);
    return Math.max(1, Math.round(delay * scale * (1 - JITTER * random())));
  };
}

/** The Redis sorted set of a queue's jobs past their alert threshold (member: job id, score: last failure, ms). */
export const retryAlertsKey = (prefix: string, queue: QueueName) => `${prefix}:${queue}:retry-alerts`;
