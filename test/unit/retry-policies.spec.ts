import { JOB_CATALOGUE, QUEUE_NAMES } from '../../src/infra/queues/job-catalogue';
import {
  backoffDelayMs,
  MAINTENANCE,
  RETRY_POLICIES,
  retryBackoffStrategy,
  retryJobOptions,
  retryPolicyOf,
  UNTIL_DONE,
} from '../../src/infra/queues/retry-policies';

const HOUR = 3_600_000;

/** The retry a job gets between its attempts, at the shortest (full jitter) or longest (none) delays. */
function totalWait(queue: Parameters<typeof retryBackoffStrategy>[0], name: string, jitter: number): number {
  const strategy = retryBackoffStrategy(queue, 1, () => jitter);
  const { attempts } = retryPolicyOf(queue, name);
  let total = 0;
  for (let failed = 1; failed < attempts; failed++) total += Number(strategy(failed, 'retry-policy', undefined, { name } as never));
  return total;
}

describe('job retry policies', () => {
  it('gives every catalogue job a policy', () => {
    for (const queue of QUEUE_NAMES) {
      for (const name of JOB_CATALOGUE[queue] as string[]) {
        expect((RETRY_POLICIES[queue] as Record<string, unknown>)[name]).toBeDefined();
      }
    }
  });

  it('retries a push for at least 24 h, whatever the jitter, and not more than about 31 h', () => {
    expect(totalWait('events', 'event.push', 1)).toBeGreaterThanOrEqual(24 * HOUR);
    expect(totalWait('events', 'event.push', 0)).toBeLessThan(31 * HOUR);
    expect(backoffDelayMs(retryPolicyOf('events', 'event.push'), 30)).toBe(HOUR);
  });

  it('retries state changes until done with delays capped at 10 minutes, maintenance a few times', () => {
    for (const [queue, name] of [
      ['sla', 'referral.expire'],
      ['decisions', 'decision.apply'],
      ['referrals', 'referral.package'],
      ['decisions', 'decision-file.process'],
      ['prescreening', 'prescreen.chunk'],
      ['overdue', 'overdue.scan-chunk'],
    ] as const) {
      expect(retryPolicyOf(queue, name)).toBe(UNTIL_DONE);
    }
    expect(totalWait('sla', 'referral.expire', 1)).toBeGreaterThan(365 * 24 * HOUR);
    const strategy = retryBackoffStrategy('sla', 1, () => 0);
    expect(strategy(1, 'retry-policy', undefined, { name: 'referral.expire' } as never)).toBe(2_000);
    expect(strategy(50_000, 'retry-policy', undefined, { name: 'referral.expire' } as never)).toBe(600_000);
    expect(retryPolicyOf('audit', 'audit.checkpoint')).toBe(MAINTENANCE);
    expect(retryJobOptions('audit', 'audit.checkpoint')).toEqual({ attempts: 3, backoff: { type: 'retry-policy' } });
  });

  it('scales delays (tests) and treats an unknown job name as a state change', () => {
    const strategy = retryBackoffStrategy('sla', 0.001, () => 0);
    expect(strategy(1, 'retry-policy', undefined, { name: 'referral.expire' } as never)).toBe(2);
    expect(retryPolicyOf('sla', 'referral.from-a-newer-release')).toBe(UNTIL_DONE);
  });
});
