import { Body, Controller, HttpCode, Post } from '@nestjs/common';

import { ForbiddenError } from '../../common/errors';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { PollEventsDto, PollEventsResponse } from './dto/poll-events.dto';
import { EventPollService } from './event-poll.service';

/** POST /partner/v1/events/poll: the bank's RFC 8936 feed of its own security events. */
@Controller('partner/v1/events')
@PartnerScopes('events:read')
export class EventsPollController {
  constructor(private readonly poller: EventPollService) {}

  @Post('poll')
  @HttpCode(200)
  poll(@Body() dto: PollEventsDto, @Actor() actor: RequestActor): Promise<PollEventsResponse> {
    const partnerId = actor.principal.partnerId;
    if (!partnerId) throw new ForbiddenError();
    // An empty body arrives as undefined: it means all defaults.
    return this.poller.poll(partnerId, dto ?? {}, actor);
  }
}
