import { Injectable, Logger } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { AppConfigService } from '../../infra/config/app-config';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../audit/audit.writer';
import { PushStatus } from './partner-event';
import { PartnerEventsRepository, PushTarget } from './partner-events.repository';
import { LaneTicket, PushLanes } from './push-lanes';
import { PushResult, PushSender } from './push-sender';

/**
 * The RFC 8935 push of one event, one attempt per job. A failed attempt writes the next attempt as a delayed outbox
 * row (EVENT_PUSH_RETRY_DELAYS_MS: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h by default, over 24 h in all) in the
 * same transaction that records the failure; after the last one the event is DEAD (listed for operators) and stays
 * in the poll feed like every event. The attempt number lives in MySQL, not in BullMQ's retry counter, so a Redis
 * loss neither restarts nor loses the schedule: the outbox sweeper re-adds a vanished delayed job with its
 * remaining delay. A job whose attempt the row no longer waits for (a repeat delivery) does nothing.
 */
@Injectable()
export class EventPushHandler {
  private readonly logger = new Logger(EventPushHandler.name);

  constructor(
    private readonly events: PartnerEventsRepository,
    private readonly sender: PushSender,
    private readonly tx: TransactionRunner,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
    private readonly config: AppConfigService,
    private readonly lanes: PushLanes,
  ) {}

  @JobHandler('events', 'event.push')
  async push(payload: JobPayload<'events', 'event.push'>, ctx: JobContext): Promise<void> {
    const { eventId, attempt } = payload;
    const target = await this.events.pushTarget(eventId);
    if (!target || target.pushStatus !== 'PENDING' || target.pushAttempts !== attempt - 1) return;

    // The HTTP call runs outside any transaction: a slow bank must not hold row locks.
    let result: PushResult | undefined;
    let mayRetry = true;
    const delays = this.config.values.events.pushRetryDelaysMs;
    if (target.pushEndpoint === null) result = undefined;
    else if (target.partnerStatus !== 'ACTIVE') result = { outcome: 'failed', error: 'partner is suspended' };
    else {
      const ticket = await this.lanes.admit(target.partnerId);
      if (ticket.verdict === 'go' || ticket.verdict === 'probe') result = await this.sendInLane(target, ticket);
      else if (ticket.verdict === 'circuit_open' && target.ageMs > delays.reduce((a, b) => a + b, 0)) {
        // Deferrals use no attempt, so a circuit open for days would keep the event PENDING for days: past the
        // retry window it ends like a push that used all its attempts (DEAD, still in the poll feed).
        result = { outcome: 'failed', error: 'push circuit open past the retry window' };
        mayRetry = false;
      } else {
        this.metrics.eventPushDeferrals.inc({ reason: ticket.verdict === 'lane_full' ? 'lane_full' : 'circuit_open' });
        await ctx.defer(this.lanes.waitFor(ticket));
      }
    }

    const retryIn = mayRetry && attempt <= delays.length ? delays[attempt - 1] : undefined;
    const { status, error } = settle(result, retryIn !== undefined);
    const recorded = await this.tx.run(async (m) => {
      if (!(await this.events.recordAttempt(m, eventId, attempt, { status, error }))) return false;
      if (status === 'PENDING') {
        await this.outbox.enqueue(
          m,
          'events',
          'event.push',
          { eventId, attempt: attempt + 1, correlationId: payload.correlationId },
          { delayMs: retryIn },
        );
      } else if (status === 'DELIVERED' || status === 'DEAD') {
        await this.audit.append(
          {
            actorType: 'system',
            actorId: 'event-push',
            action: status === 'DELIVERED' ? 'partner_event.pushed' : 'partner_event.push_dead',
            resourceType: 'partner_event',
            resourceId: toPublicId('evt', eventId),
            partnerCode: target.partnerCode,
            outcome: status === 'DELIVERED' && !error ? 'SUCCESS' : 'FAILURE',
            details: { attempts: attempt, ...(error ? { error } : {}) },
          },
          m,
        );
      }
      return true;
    });
    if (!recorded) return;
    const outcome = result === undefined ? 'skipped' : status === 'DEAD' ? 'dead' : result.outcome;
    this.metrics.eventPushes.inc({ outcome });
    if (status === 'DEAD') this.logger.warn({ eventId, partner: target.partnerCode, attempts: attempt, error }, 'event push gave up');
  }

  /** One push in the partner's lane; its place is freed and its outcome counted by the circuit whatever happens. */
  private async sendInLane(target: PushTarget, ticket: LaneTicket): Promise<PushResult> {
    let result: PushResult | undefined;
    try {
      result = await this.sender.send(target.pushEndpoint!, target.setJws);
      return result;
    } finally {
      const outcome = !result || result.outcome === 'refused' ? 'not_sent' : result.outcome === 'failed' ? 'failed' : 'answered';
      // A lost settle costs a place until its lease ends and one count of the circuit; the push itself happened.
      const change = await this.lanes.settle(ticket, outcome).catch((error: Error) => {
        this.logger.warn({ partner: target.partnerCode, err: error.message }, 'could not settle the push lane');
        return 'none' as const;
      });
      if (change !== 'none') this.logger.warn({ partner: target.partnerCode, circuit: change }, `push circuit ${change}`);
    }
  }
}

/** The row's next state after an attempt: delivered (maybe with the bank's 400), retry later, or dead. */
function settle(result: PushResult | undefined, canRetry: boolean): { status: PushStatus; error: string | null } {
  // The partner removed its endpoint since: nothing more to push, the event is still polled.
  if (result === undefined) return { status: 'NONE', error: 'push endpoint removed' };
  switch (result.outcome) {
    case 'delivered':
      return { status: 'DELIVERED', error: null };
    case 'rejected':
      return { status: 'DELIVERED', error: result.error };
    case 'failed':
    case 'refused':
      return { status: canRetry ? 'PENDING' : 'DEAD', error: result.error };
  }
}
