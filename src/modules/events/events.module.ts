import { Global, Module } from '@nestjs/common';

import { PartnersModule } from '../partners/partners.module';
import { DeadLettersController } from './dead-letters.controller';
import { EventPollService } from './event-poll.service';
import { EventPushHandler } from './event-push.handler';
import { EventPushAbandoned } from './event-push-abandoned.handler';
import { EventsPollController } from './events-poll.controller';
import { PartnerEventsRepository } from './partner-events.repository';
import { PartnerEvents } from './partner-events.service';
import { PushLaneController } from './push-lane.controller';
import { PushLaneMetrics } from './push-lane.metrics';
import { PushLanes } from './push-lanes';
import { PushSender } from './push-sender';

/**
 * Each partner's security-event feed: SETs emitted inside business transactions (PartnerEvents, global so every
 * referral and overdue use case can emit), the RFC 8936 poll endpoint, RFC 8935 push (one lane and circuit breaker
 * per partner) and its dead letters.
 */
@Global()
@Module({
  imports: [PartnersModule],
  controllers: [EventsPollController, DeadLettersController, PushLaneController],
  providers: [
    PartnerEventsRepository,
    PartnerEvents,
    EventPollService,
    PushSender,
    PushLanes,
    PushLaneMetrics,
    EventPushHandler,
    EventPushAbandoned,
  ],
  exports: [PartnerEvents],
})
export class EventsModule {}
