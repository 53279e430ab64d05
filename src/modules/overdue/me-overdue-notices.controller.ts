import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page, PageQuery } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { OverdueNoticesService } from './overdue-notices.service';
import { OverdueNoticeView } from './overdue-record';

/** Applicant API: the overdue notices sent to the signed-in user (sub = platform user id). */
@ApiTags('applicant')
@ApiBearerAuth()
@Controller('v1/me/overdue-notices')
@PlatformRoles('user')
export class MeOverdueNoticesController {
  constructor(private readonly notices: OverdueNoticesService) {}

  @Get()
  @ApiOperation({ summary: "The user's overdue notices, in creation order: what will be shared with which bank, and when" })
  list(@Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<OverdueNoticeView>> {
    return this.notices.listForUser(actor.principal.id, { limit: query.limit, cursor: query.cursor });
  }
}
