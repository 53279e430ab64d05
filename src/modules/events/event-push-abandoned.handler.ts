import { Injectable, Logger } from '@nestjs/common';

import { toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler } from '../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../audit/audit.writer';
import { PartnerEventsRepository } from './partner-events.repository';

/**
 * A push attempt whose job BullMQ gave up on (its handler kept throwing for the event.push retry policy's 24 h, or it
 * stalled too often): the event becomes DEAD, a dead letter the partner and operators list, instead of PENDING
 * forever. Like every event it stays in the poll feed. A job whose attempt the row no longer waits for changes nothing.
 */
@Injectable()
export class EventPushAbandoned {
  private readonly logger = new Logger(EventPushAbandoned.name);

  constructor(
    private readonly events: PartnerEventsRepository,
    private readonly tx: TransactionRunner,
    private readonly audit: AuditWriter,
    private readonly metrics: MetricsService,
  ) {}

  @JobAbandonedHandler('events', 'event.push')
  async abandoned(payload: JobPayload<'events', 'event.push'>, reason: string): Promise<void> {
    const { eventId, attempt } = payload;
    const target = await this.events.pushTarget(eventId);
    if (!target || target.pushStatus !== 'PENDING' || target.pushAttempts !== attempt - 1) return;
    const error = 'abandoned by the job queue';
    const dead = await this.tx.run(async (m) => {
      if (!(await this.events.recordAttempt(m, eventId, attempt, { status: 'DEAD', error }))) return false;
      await this.audit.append(
        {
          actorType: 'system',
          actorId: 'event-push',
          action: 'partner_event.push_dead',
          resourceType: 'partner_event',
          resourceId: toPublicId('evt', eventId),
          partnerCode: target.partnerCode,
          outcome: 'FAILURE',
          details: { attempts: attempt, error },
        },
        m,
      );
      return true;
    });
    if (!dead) return;
    this.metrics.eventPushes.inc({ outcome: 'dead' });
    this.logger.error({ eventId, partner: target.partnerCode, attempts: attempt, reason }, 'event push abandoned by the job queue');
  }
}
