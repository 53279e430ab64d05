import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiPayloadTooLargeResponse, ApiTags } from '@nestjs/swagger';

import { NotFoundError } from '../../common/errors';
import { BulkBody } from '../../infra/http/body-limits';
import { BULK_TOO_LARGE_RESPONSE, BulkLine, BulkLinesPipe } from '../../infra/http/bulk-lines';
import { BulkLinesAnswer, bulkLinesAnswer } from '../../infra/http/line-results';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { DecidingPartner, DecisionRecorder, DecisionView } from './decision-recorder';

const DECISION_SCHEMA = {
  type: 'object',
  required: ['decision', 'decidedAt'],
  additionalProperties: false,
  properties: {
    decision: { type: 'string', enum: ['APPROVED', 'DECLINED', 'PENDING_REVIEW'] },
    decidedAt: { type: 'string', format: 'date-time' },
    creditLimit: { type: 'string', example: '15000.00', description: 'APPROVED only' },
    cardLast4: { type: 'string', pattern: '^[0-9]{4}$', description: 'APPROVED only' },
    declineReasons: { type: 'array', items: { type: 'string' }, description: 'DECLINED only' },
  },
};

export const decidingPartner = (actor: RequestActor): DecidingPartner => {
  if (actor.principal.type !== 'partner' || !actor.principal.partnerId) throw new NotFoundError('referral');
  return { partnerId: actor.principal.partnerId, partnerCode: actor.principal.id, requestId: actor.requestId, clientIp: actor.clientIp };
};

/** Partner API: the bank's decisions, one at a time or in bulk (NDJSON), each line answered on its own. */
@ApiTags('partner')
@ApiBearerAuth()
@Controller('partner/v1')
@PartnerScopes('referrals:decide')
export class PartnerDecisionsController {
  constructor(private readonly recorder: DecisionRecorder) {}

  @Post('referrals/:id/decision')
  @HttpCode(200)
  @ApiOperation({ summary: 'Record the bank decision on a referral (DELIVERED | ACKNOWLEDGED | PENDING_REVIEW → decision)' })
  @ApiBody({ schema: DECISION_SCHEMA })
  async decide(@Param('id') id: string, @Body() body: unknown, @Actor() actor: RequestActor): Promise<DecisionView> {
    // Validated by parseDecision, shared with the bulk endpoint and decision files, not by a DTO.
    const [result] = await this.recorder.decide(decidingPartner(actor), [{ line: 1, value: body }], false, id);
    if (result.error) throw result.error;
    return result.view!;
  }

  @Post('decisions')
  @HttpCode(200)
  @BulkBody()
  @ApiOperation({ summary: 'Decisions in bulk: one { referralId, decision, decidedAt, … } per NDJSON line, each answered on its own' })
  @ApiConsumes('application/x-ndjson', 'application/json')
  @ApiBody({ schema: { type: 'string', description: 'one decision line per NDJSON line, or a JSON array of them (10,000 by default)' } })
  @ApiPayloadTooLargeResponse(BULK_TOO_LARGE_RESPONSE)
  async decideBulk(@Body(BulkLinesPipe) lines: BulkLine[], @Actor() actor: RequestActor): Promise<BulkLinesAnswer> {
    return bulkLinesAnswer(await this.recorder.decide(decidingPartner(actor), lines, true));
  }
}
