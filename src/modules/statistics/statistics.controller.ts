import { Controller, Get, Query } from '@nestjs/common';

import { PlatformRoles } from '../auth/platform-roles.guard';
import { ReferralStatisticsQuery, ReferralStatisticsView } from './dto/referral-statistics.dto';
import { ReferralStatistics } from './referral-statistics.service';

/**
 * GET /v1/admin/statistics/referrals: per partner and product, referrals by status, approval rate, median and 90th
 * percentile time to decision, SLA breaches. One row per partner and product, not paginated (an aggregate report).
 */
@Controller('v1/admin/statistics')
@PlatformRoles('admin')
export class StatisticsController {
  constructor(private readonly statistics: ReferralStatistics) {}

  @Get('referrals')
  referrals(@Query() query: ReferralStatisticsQuery): Promise<ReferralStatisticsView> {
    return this.statistics.referrals(query);
  }
}
