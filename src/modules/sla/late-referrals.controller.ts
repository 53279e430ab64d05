import { Controller, Get, Query } from '@nestjs/common';

import { Page } from '../../common/pagination';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { LateReferralsQuery, LateReferralView } from './dto/late-referrals.dto';
import { ReferralSla } from './referral-sla.service';

/** GET /v1/admin/referrals/late: referrals past their decision SLA and not final, for operators chasing banks. */
@Controller('v1/admin/referrals')
@PlatformRoles('admin')
export class LateReferralsController {
  constructor(private readonly sla: ReferralSla) {}

  @Get('late')
  list(@Query() query: LateReferralsQuery): Promise<Page<LateReferralView>> {
    return this.sla.listLate(query);
  }
}
