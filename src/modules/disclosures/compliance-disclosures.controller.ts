import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { BadRequestError } from '../../common/errors';
import { Page, PageQuery } from '../../common/pagination';
import { AuditWriter } from '../audit/audit.writer';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { DisclosureView } from './disclosure';
import { DisclosureLedger } from './disclosure-ledger';

/** Platform user ids as everywhere else (credit_records.user_id). */
const USER_ID = /^[\x21-\x7e]{1,64}$/;

/** Compliance API: "what did we share about this person". Reading it is itself audited. */
@ApiTags('compliance')
@ApiBearerAuth()
@Controller('v1/compliance/users')
@PlatformRoles('compliance')
export class ComplianceDisclosuresController {
  constructor(
    private readonly ledger: DisclosureLedger,
    private readonly audit: AuditWriter,
  ) {}

  @Get(':userId/disclosures')
  @ApiOperation({ summary: "Every disclosure of one user's data to a partner, in creation order" })
  async list(@Param('userId') userId: string, @Query() query: PageQuery, @Actor() actor: RequestActor): Promise<Page<DisclosureView>> {
    if (!USER_ID.test(userId))
      throw new BadRequestError('userId is not a platform user id', [{ field: 'userId', message: 'must be 1-64 printable characters' }]);
    const page = await this.ledger.listForUser(userId, { limit: query.limit, cursor: query.cursor });
    // Recorded (and committed) before the answer leaves: a read that left no trace must not deliver data.
    await this.audit.append({
      actorType: 'compliance',
      actorId: actor.principal.id,
      action: 'compliance.disclosures.read',
      resourceType: 'user',
      subjectUserHash: this.audit.subjectHash(userId),
      requestId: actor.requestId,
      clientIp: actor.clientIp,
      outcome: 'SUCCESS',
      httpStatus: 200,
      details: { returned: page.data.length },
    });
    return page;
  }
}
