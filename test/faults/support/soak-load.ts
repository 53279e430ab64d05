import { platformToken } from '../../support/partner-client';
import { userHeaders } from '../../support/referral-flow';
import { send } from './http';
import { Cohort, decisionBody } from './scenario';

/** What the load did, by kind, and what went wrong (a 5xx or an answer the step did not expect). */
export interface LoadTally {
  applications: number;
  fetches: number;
  decisions: number;
  polls: number;
  acked: number;
  tokens: number;
  errors: string[];
}

export const newTally = (): LoadTally => ({ applications: 0, fetches: 0, decisions: 0, polls: 0, acked: 0, tokens: 0, errors: [] });

/**
 * The soak's callers, each a loop at its own pace until `running()` turns false: applicants applying one after the
 * other (offer, consent text, application), the bank fetching each READY referral and deciding on it, polling its
 * event feed and acknowledging what it got, and asking for scoped tokens. Every answer is checked; a failure is
 * counted, not thrown, so one bad answer shows in the tally instead of stopping the load.
 */
export class SoakLoad {
  readonly tally = newTally();
  /** Referrals made, and the decision sent for each. */
  readonly referrals: string[] = [];
  readonly decided = new Map<string, string>();
  private nextUser = 0;
  private unacked: string[] = [];

  constructor(
    private readonly apiBaseUrl: string,
    private readonly cohort: Cohort,
  ) {}

  private fail(what: string, status: number, body: string) {
    if (this.tally.errors.length < 50) this.tally.errors.push(`${what}: ${status} ${body.slice(0, 200)}`);
    else this.tally.errors.push(what);
  }

  /** One applicant applies (none left: nothing to do). */
  async applyNext(): Promise<void> {
    const user = this.cohort.users[this.nextUser];
    if (!user) return;
    this.nextUser++;
    const headers = userHeaders(user);
    const offers = await send(this.apiBaseUrl, 'GET', '/v1/me/offers', { headers });
    if (offers.status !== 200) return this.fail('offers', offers.status, offers.body);
    const offer = offers.json().data.find((o: { productCode: string }) => o.productCode === this.cohort.productCode);
    const consent = await send(this.apiBaseUrl, 'GET', `/v1/me/offers/${offer.id}/consent`, { headers });
    if (consent.status !== 200) return this.fail('consent', consent.status, consent.body);
    const { textVersion, textSha256 } = consent.json();
    const applied = await send(this.apiBaseUrl, 'POST', '/v1/me/applications', {
      headers: { ...headers, 'idempotency-key': `soak-${user}` },
      body: { offerId: offer.id, consent: { textVersion, textSha256, accepted: true } },
    });
    if (applied.status !== 201) return this.fail('application', applied.status, applied.body);
    this.referrals.push(applied.json().id);
    this.tally.applications++;
  }

  /** The bank takes every READY referral: fetches its file, then decides (alternately approving and declining). */
  async bankRound(): Promise<void> {
    const listed = await this.cohort.bank.listReferrals({ status: 'READY', limit: 50 });
    if (listed.status !== 200) return this.fail('list', listed.status, JSON.stringify(listed.body));
    for (const { id } of listed.body.data as Array<{ id: string }>) {
      const fetched = await this.cohort.bank.fetchReferral(id);
      if (fetched.status !== 200) {
        this.fail('fetch', fetched.status, JSON.stringify(fetched.body));
        continue;
      }
      this.tally.fetches++;
      const decision = this.decided.size % 2 === 0 ? 'APPROVED' : 'DECLINED';
      const answer = await this.cohort.bank.call('POST', `/partner/v1/referrals/${id}/decision`, decisionBody(decision));
      if (answer.status !== 200) {
        this.fail('decision', answer.status, JSON.stringify(answer.body));
        continue;
      }
      this.decided.set(id, decision);
      this.tally.decisions++;
    }
  }

  /** One RFC 8936 poll, acknowledging what the previous poll handed out. */
  async poll(): Promise<void> {
    const ack = this.unacked;
    const answer = await this.cohort.bank.call('POST', '/partner/v1/events/poll', { maxEvents: 50, returnImmediately: true, ack });
    if (answer.status !== 200) return this.fail('poll', answer.status, JSON.stringify(answer.body));
    this.tally.polls++;
    this.tally.acked += ack.length;
    this.unacked = Object.keys(answer.body.sets ?? {});
  }

  /** A scoped token (never cached by the client) and a platform call: the token endpoint and the JWT checks. */
  async tokens(): Promise<void> {
    await this.cohort.bank.token('referrals:read');
    this.tally.tokens++;
    const stats = await send(this.apiBaseUrl, 'GET', '/v1/me/offers', { headers: { authorization: `Bearer ${platformToken(['user'])}` } });
    if (stats.status !== 200) this.fail('offers (token check)', stats.status, stats.body);
  }
}

/** Runs `step` every `everyMs` (start to start) while `running()`; a thrown error is tallied, the loop goes on. */
export async function paced(everyMs: number, running: () => boolean, step: () => Promise<void>, tally: LoadTally): Promise<void> {
  while (running()) {
    const started = Date.now();
    try {
      await step();
    } catch (error) {
      tally.errors.push(String((error as Error).message ?? error).slice(0, 200));
    }
    // A pace, not a wait for some state: the load is meant to arrive at a steady rate.
    await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
  }
}
