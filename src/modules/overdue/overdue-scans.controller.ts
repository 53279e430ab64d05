import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page } from '../../common/pagination';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { AdminOverdueReportsQuery, StartOverdueScanDto } from './dto/overdue.dto';
import { AdminOverdueRecordView } from './overdue-record';
import { OverdueReportsService } from './overdue-reports.service';
import { OverdueScanView } from './overdue-scan';
import { OverdueScansService } from './overdue-scans.service';

/** Operator API: overdue scans (background work, 202) and the records banks have not acknowledged. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@PlatformRoles('admin')
export class OverdueScansController {
  constructor(
    private readonly scans: OverdueScansService,
    private readonly reports: OverdueReportsService,
  ) {}

  @Post('overdue-scans')
  @HttpCode(202)
  @ApiOperation({ summary: 'Start the overdue scan of every cardholder for one business date (not future, not before the last)' })
  @ApiAcceptedResponse({ schema: { type: 'object', properties: { id: { type: 'string', example: 'osc_7' } } } })
  start(@Body() dto: StartOverdueScanDto, @Actor() actor: RequestActor): Promise<{ id: string }> {
    return this.scans.start(
      dto.asOf,
      { actorType: actor.principal.type, actorId: actor.principal.id, requestId: actor.requestId, clientIp: actor.clientIp },
      dto.chunkSize,
    );
  }

  @Get('overdue-scans/:id')
  @ApiOperation({ summary: 'Status, progress and counts of an overdue scan' })
  get(@Param('id') id: string): Promise<OverdueScanView> {
    return this.scans.view(id);
  }

  @Get('overdue-reports')
  @ApiOperation({ summary: 'Overdue report records, e.g. those not acknowledged in time (unacknowledged=true&olderThanHours=72)' })
  list(@Query() query: AdminOverdueReportsQuery): Promise<Page<AdminOverdueRecordView>> {
    return this.reports.listForOperators(query);
  }
}
