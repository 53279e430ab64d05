import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page, PageQuery } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { OfferView } from './offer';
import { OffersService } from './offers.service';

/** Applicant API: the signed-in platform user's live pre-screened offers (sub = platform user id). */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me/offers')
@PlatformRoles('user')
export class MeOffersController {
  constructor(private readonly offers: OffersService) {}

  @Get()
  @ApiOperation({ summary: "The user's live pre-screened offers" })
  list(@Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<OfferView>> {
    return this.offers.listLive(actor.principal.id, query);
  }
}
