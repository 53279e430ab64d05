import { Controller, Get, Param } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { ReportDateParam } from './dto/overdue.dto';
import { OverdueReportFilesView } from './overdue-report-file';
import { OverdueReportFilesService } from './overdue-report-files.service';

/** Partner API: the signed daily overdue report files (the partner's own records only). */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1/overdue-report-files')
@PartnerScopes('overdue:read')
export class PartnerOverdueReportFilesController {
  constructor(private readonly files: OverdueReportFilesService) {}

  @Get(':date')
  @ApiOperation({ summary: "A day's signed overdue report file(s): 404 until that date's scan has completed; byte-identical on repeat" })
  get(@Param() params: ReportDateParam, @Actor() actor: RequestActor): Promise<OverdueReportFilesView> {
    return this.files.forPartner(actor, params.date);
  }
}
