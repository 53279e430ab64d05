import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiPayloadTooLargeResponse, ApiTags } from '@nestjs/swagger';

import { BulkBody } from '../../infra/http/body-limits';
import { BULK_TOO_LARGE_RESPONSE, BulkLine, BulkLinesPipe } from '../../infra/http/bulk-lines';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { CreditRecordsService, IngestActor, IngestResult } from './credit-records.service';

const INGEST_RESULT_SCHEMA = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    ignored: { type: 'integer' },
    rejected: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          line: { type: 'integer' },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { field: { type: 'string', nullable: true }, message: { type: 'string' } } },
          },
        },
      },
    },
  },
};

const actorOf = (a: RequestActor): IngestActor => ({
  actorType: 'platform',
  actorId: a.principal.id,
  requestId: a.requestId,
  clientIp: a.clientIp,
});

/** The platform's pushes of its credit knowledge: bulk bodies, each line answered on its own. */
@ApiTags('platform')
@ApiBearerAuth()
@Controller('v1/platform')
@PlatformRoles('platform')
export class CreditRecordsController {
  constructor(private readonly service: CreditRecordsService) {}

  @Post('credit-records')
  @HttpCode(200)
  @BulkBody()
  @ApiOperation({ summary: 'Ingest credit record snapshots (NDJSON or JSON array, up to 10 MiB and 10,000 lines by default)' })
  @ApiConsumes('application/x-ndjson', 'application/json')
  @ApiBody({ schema: { type: 'string', description: 'one credit record line (API.md) per NDJSON line, or a JSON array of them' } })
  @ApiOkResponse({ schema: INGEST_RESULT_SCHEMA })
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  ingestCreditRecords(@Body(BulkLinesPipe) lines: BulkLine[], @Actor() actor: RequestActor): Promise<IngestResult> {
    return this.service.ingestCreditRecords(lines, actorOf(actor));
  }

  @Post('repayment-status')
  @HttpCode(200)
  @BulkBody()
  @ApiOperation({ summary: 'Ingest repayment-status updates between snapshots (NDJSON or JSON array, up to 10,000 lines by default)' })
  @ApiConsumes('application/x-ndjson', 'application/json')
  @ApiBody({ schema: { type: 'string', description: '{ "userId", "currentDpd", "overdueAmount", "asOf" } per line' } })
  @ApiOkResponse({ schema: INGEST_RESULT_SCHEMA })
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  ingestRepaymentStatus(@Body(BulkLinesPipe) lines: BulkLine[], @Actor() actor: RequestActor): Promise<IngestResult> {
    return this.service.ingestRepaymentStatus(lines, actorOf(actor));
  }
}
