import { Controller, Delete, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page, PageQuery } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { ConsentView } from './application';
import { ConsentsService, OfferConsentView } from './consents.service';

/** Applicant API: the consent text of an offer, the consents given, and revocation. */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me')
@PlatformRoles('user')
export class MeConsentsController {
  constructor(private readonly consents: ConsentsService) {}

  @Get('offers/:id/consent')
  @ApiOperation({ summary: "The exact consent text of an offer's product version, with its version and SHA-256" })
  offerConsent(@Param('id') id: string, @Actor() actor: RequestActor): Promise<OfferConsentView> {
    return this.consents.offerConsent(id, actor);
  }

  @Get('consents')
  @ApiOperation({ summary: 'Consents the user gave, in creation order' })
  list(@Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<ConsentView>> {
    return this.consents.list(actor, query);
  }

  @Delete('consents/:id')
  @ApiOperation({ summary: 'Revoke a consent (idempotent); an application under it not yet final is withdrawn' })
  revoke(@Param('id') id: string, @Actor() actor: RequestActor): Promise<ConsentView> {
    return this.consents.revoke(id, actor);
  }
}
