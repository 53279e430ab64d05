import { Controller, Get, Param, Query, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { BadRequestError } from '../../common/errors';
import { Page, PageQuery } from '../../common/pagination';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { USER_ID } from '../compliance/audit-event-query';
import { ComplianceReadInterceptor } from '../compliance/compliance-read.interceptor';
import { DisclosureView } from './disclosure';
import { DisclosureLedger } from './disclosure-ledger';

/** Compliance API: "what did we share about this person". Reading it is itself audited (ComplianceReadInterceptor). */
@ApiTags('compliance')
@ApiBearerAuth()
@Controller('v1/compliance/users')
@PlatformRoles('compliance')
@UseInterceptors(ComplianceReadInterceptor)
export class ComplianceDisclosuresController {
  constructor(private readonly ledger: DisclosureLedger) {}

  @Get(':userId/disclosures')
  @ApiOperation({ summary: "Every disclosure of one user's data to a partner, in creation order" })
  async list(@Param('userId') userId: string, @Query() query: PageQuery): Promise<Page<DisclosureView>> {
    if (!USER_ID.test(userId))
      throw new BadRequestError('userId is not a platform user id', [{ field: 'userId', message: 'must be 1-64 printable characters' }]);
    return this.ledger.listForUser(userId, { limit: query.limit, cursor: query.cursor });
  }
}
