import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page, PageQuery } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { DisclosureView } from '../disclosures/disclosure';
import { DisclosureLedger } from '../disclosures/disclosure-ledger';

/** Applicant API: every time the user's data went to a partner (the disclosure ledger, read for this user only). */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me/disclosures')
@PlatformRoles('user')
export class MeDisclosuresController {
  constructor(private readonly ledger: DisclosureLedger) {}

  @Get()
  @ApiOperation({ summary: "What of the user's data went to which partner, when, under which consent" })
  list(@Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<DisclosureView>> {
    return this.ledger.listForUser(actor.principal.id, { limit: query.limit, cursor: query.cursor });
  }
}
