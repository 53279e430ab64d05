import { Body, Controller, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiPayloadTooLargeResponse, ApiTags } from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';

import { NotFoundError } from '../../common/errors';
import { AppConfigService } from '../../infra/config/app-config';
import { BulkBody } from '../../infra/http/body-limits';
import { BULK_TOO_LARGE_RESPONSE, bulkLinesOf } from '../../infra/http/bulk-lines';
import { BulkLinesAnswer, bulkLinesAnswer } from '../../infra/http/line-results';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { DelinquencyRecorder, DelinquencyView, ReportingPartner } from './delinquency-recorder';

const REPORT_SCHEMA = {
  type: 'object',
  required: ['referralId', 'dpd', 'amountOverdue', 'asOf'],
  additionalProperties: false,
  properties: {
    referralId: { type: 'string', description: "one of the partner's own APPROVED referrals" },
    dpd: { type: 'integer', minimum: 1, maximum: 3650 },
    amountOverdue: { type: 'string', example: '1200.00' },
    asOf: { type: 'string', format: 'date', description: 'not in the future, not before the decision' },
  },
};

const reportingPartner = (actor: RequestActor): ReportingPartner => {
  if (actor.principal.type !== 'partner' || !actor.principal.partnerId) throw new NotFoundError('referral');
  return { partnerId: actor.principal.partnerId, partnerCode: actor.principal.id, requestId: actor.requestId, clientIp: actor.clientIp };
};

const isNdjson = (request: FastifyRequest) => /^application\/x-ndjson\b/i.test(request.headers['content-type'] ?? '');

/** Partner API: a bank reports a referred cardholder's card delinquency, one JSON object or NDJSON lines. */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1')
@PartnerScopes('delinquency:write')
export class PartnerDelinquenciesController {
  constructor(
    private readonly recorder: DelinquencyRecorder,
    private readonly config: AppConfigService,
  ) {}

  /**
   * One path for both forms (API.md): a JSON object is one report (201 with it, or its problem); NDJSON (or a JSON
   * array, as the other bulk endpoints take) is a bulk call answered 200 with one result per line.
   */
  @Post('delinquencies')
  @BulkBody()
  @ApiOperation({ summary: "Report a delinquency on one of the partner's APPROVED referrals; NDJSON for many, each line answered" })
  @ApiConsumes('application/json', 'application/x-ndjson')
  @ApiBody({ schema: REPORT_SCHEMA })
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  async report(
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Actor() actor: RequestActor,
  ): Promise<DelinquencyView | BulkLinesAnswer> {
    const partner = reportingPartner(actor);
    if (isNdjson(request) || Array.isArray(body)) {
      reply.status(200);
      // The same capped line reader as the other bulk endpoints (decisions, ingest).
      const lines = bulkLinesOf(body, this.config.values.bulk.maxLines);
      return bulkLinesAnswer(await this.recorder.report(partner, lines));
    }
    // Validated by parseDelinquency, shared with the bulk lines, not by a DTO.
    const [result] = await this.recorder.report(partner, [{ line: 1, value: body }]);
    if (result.error) throw result.error;
    return result.view!;
  }
}
