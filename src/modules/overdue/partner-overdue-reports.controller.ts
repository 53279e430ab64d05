import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { PartnerOverdueReportsQuery } from './dto/overdue.dto';
import { OverdueRecordView } from './overdue-record';
import { OverdueReportsService } from './overdue-reports.service';

/** Partner API: the bank's overdue report records (its own only), and their acknowledgement. */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1/overdue-reports')
@PartnerScopes('overdue:read')
export class PartnerOverdueReportsController {
  constructor(private readonly reports: OverdueReportsService) {}

  @Get()
  @ApiOperation({ summary: "The partner's overdue report records in creation order (since, unacknowledged, cursor)" })
  list(@Query() query: PartnerOverdueReportsQuery, @Actor() actor: RequestActor): Promise<Page<OverdueRecordView>> {
    return this.reports.listForPartner(actor.principal.partnerId!, {
      since: query.since ? new Date(query.since) : undefined,
      unacknowledged: query.unacknowledged,
      limit: query.limit,
      cursor: query.cursor,
    });
  }

  @Post(':id/acknowledgement')
  @HttpCode(200)
  @ApiOperation({ summary: 'The bank confirms receipt of one record; idempotent' })
  acknowledge(@Param('id') id: string, @Actor() actor: RequestActor): Promise<OverdueRecordView> {
    return this.reports.acknowledge(actor, id);
  }
}
