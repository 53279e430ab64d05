import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page } from '../../../common/pagination';
import { Actor, RequestActor } from '../../auth/actor.decorator';
import { PartnerCall, PartnerCallRecord } from '../../auth/partner-call.audit';
import { PartnerScopes } from '../../auth/partner-scopes.guard';
import { ListPartnerReferralsQuery, PartnerReferralView, PartnerReferralWithFile } from './dto/partner-referrals.dto';
import { PartnerReferralsService } from './partner-referrals.service';

/** Partner API: the bank's referrals — list, fetch the signed file (a recorded disclosure), acknowledge. */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1/referrals')
@PartnerScopes('referrals:read')
export class PartnerReferralsController {
  constructor(private readonly referrals: PartnerReferralsService) {}

  @Get()
  @ApiOperation({ summary: "The partner's referrals, metadata only, in creation order" })
  list(@Query() query: ListPartnerReferralsQuery, @Actor() actor: RequestActor): Promise<Page<PartnerReferralView>> {
    return this.referrals.list(actor.principal.partnerId!, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'The referral and its signed referral file; every fetch is recorded as a disclosure' })
  fetch(@Param('id') id: string, @Actor() actor: RequestActor, @PartnerCall() call: PartnerCallRecord): Promise<PartnerReferralWithFile> {
    return this.referrals.fetch(actor, id, call);
  }

  @Post(':id/acknowledgement')
  @HttpCode(200)
  @ApiOperation({ summary: 'The bank confirms it holds the file (DELIVERED → ACKNOWLEDGED); idempotent' })
  acknowledge(@Param('id') id: string, @Actor() actor: RequestActor): Promise<PartnerReferralView> {
    return this.referrals.acknowledge(actor, id);
  }
}
