import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiTags,
} from '@nestjs/swagger';

import { BadRequestError, DomainError } from '../../common/errors';
import { PageQuery } from '../../common/pagination';
import { BulkBody } from '../../infra/http/body-limits';
import { BULK_TOO_LARGE_RESPONSE } from '../../infra/http/bulk-lines';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { CSV_COLUMNS, DecisionFileFormat } from './decision-file-lines';
import { DecisionFilesService, DecisionFileView } from './decision-files.service';
import { decidingPartner } from './partner-decisions.controller';

const FILE_BODY = {
  schema: {
    type: 'string',
    description: `NDJSON (application/x-ndjson): one { referralId, decision, decidedAt, … } a line, as POST /partner/v1/decisions; or CSV (text/csv) with the header ${CSV_COLUMNS.join(',')} (declineReasons separated by ';'). Lines are numbered as the file's lines from 1 (the CSV header is line 1). At most 10,000 decision lines by default (blank lines and the header not counted).`,
  },
};
const ACCEPTED = {
  schema: {
    type: 'object',
    properties: { id: { type: 'string', example: 'dcf_17c34skyda5ymhxrpblijfstbla' }, status: { type: 'string', example: 'QUEUED' } },
  },
};

/** The file's format from its media type; the body must be the raw text (the NDJSON and CSV parsers keep it so). */
function fileOf(contentType: string | undefined, body: unknown): { format: DecisionFileFormat; text: string } {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const format: DecisionFileFormat | undefined = type === 'application/x-ndjson' ? 'NDJSON' : type === 'text/csv' ? 'CSV' : undefined;
  if (!format)
    throw new DomainError(415, 'unsupported-media-type', 'Unsupported Media Type', 'A decision file is application/x-ndjson or text/csv');
  if (typeof body !== 'string' || body.length === 0) throw new BadRequestError('The file is empty');
  return { format, text: body };
}

/** Partner API: upload a decisions file (processed in the background, every line answered) and read its answers. */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1')
@PartnerScopes('referrals:decide')
export class PartnerDecisionFilesController {
  constructor(private readonly files: DecisionFilesService) {}

  @Post('decision-files')
  @HttpCode(202)
  @BulkBody()
  @ApiOperation({ summary: 'Upload a file of decisions (NDJSON or CSV); a job decides every line, each answered on its own' })
  @ApiConsumes('application/x-ndjson', 'text/csv')
  @ApiBody(FILE_BODY)
  @ApiAcceptedResponse(ACCEPTED)
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  upload(
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Actor() actor: RequestActor,
  ): Promise<{ id: string; status: 'QUEUED' }> {
    const { format, text } = fileOf(contentType, body);
    const p = decidingPartner(actor);
    return this.files.upload(
      { type: 'partner', partnerId: p.partnerId, partnerCode: p.partnerCode, requestId: p.requestId, clientIp: p.clientIp },
      format,
      text,
    );
  }

  @Get('decision-files/:id')
  @ApiOperation({ summary: "A decision file's status, progress and per-line answers (a page of them: ?limit&cursor)" })
  view(@Param('id') id: string, @Query() page: PageQuery, @Actor() actor: RequestActor): Promise<DecisionFileView> {
    return this.files.viewOfPartner(decidingPartner(actor).partnerId, id, page);
  }
}

/** Operator API: upload a decisions file on a partner's behalf (audited with the operator as actor) and follow it. */
@ApiTags('admin')
@ApiBearerAuth()
@Controller('v1/admin')
@PlatformRoles('admin')
export class AdminDecisionFilesController {
  constructor(private readonly files: DecisionFilesService) {}

  @Post('partners/:code/decision-files')
  @HttpCode(202)
  @BulkBody()
  @ApiOperation({ summary: "Upload a partner's decisions file on its behalf (NDJSON or CSV)" })
  @ApiConsumes('application/x-ndjson', 'text/csv')
  @ApiBody(FILE_BODY)
  @ApiAcceptedResponse(ACCEPTED)
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  upload(
    @Param('code') code: string,
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Actor() actor: RequestActor,
  ): Promise<{ id: string; status: 'QUEUED' }> {
    const { format, text } = fileOf(contentType, body);
    return this.files.upload(
      { type: 'admin', operatorId: actor.principal.id, partnerCode: code, requestId: actor.requestId, clientIp: actor.clientIp },
      format,
      text,
    );
  }

  @Get('decision-files/:id')
  @ApiOperation({ summary: "Any partner's decision file: status, progress and per-line answers" })
  view(@Param('id') id: string, @Query() page: PageQuery): Promise<DecisionFileView> {
    return this.files.viewAnyPartner(id, page);
  }
}
