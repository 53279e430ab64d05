import { Controller, Get, Query } from '@nestjs/common';

import { PlatformRoles } from '../auth/platform-roles.guard';
import { OverdueStatisticsQuery, OverdueStatisticsView } from './dto/overdue-statistics.dto';
import { ReferralStatisticsQuery, ReferralStatisticsView } from './dto/referral-statistics.dto';
import { OverdueStatistics } from './overdue-statistics.service';
import { ReferralStatistics } from './referral-statistics.service';

/**
 * GET /v1/admin/statistics/referrals: per partner and product, referrals by status, approval rate, median and 90th
 * percentile time to decision, SLA breaches. One row per partner and product, not paginated (an aggregate report).
 * GET /v1/admin/statistics/overdue: per partner and notice month, notices and what became of them (docs/OVERDUE.md).
 */
@Controller('v1/admin/statistics')
@PlatformRoles('admin')
export class StatisticsController {
  constructor(
    private readonly statistics: ReferralStatistics,
    private readonly overdueStatistics: OverdueStatistics,
  ) {}

  @Get('referrals')
  referrals(@Query() query: ReferralStatisticsQuery): Promise<ReferralStatisticsView> {
    return this.statistics.referrals(query);
  }

  @Get('overdue')
  overdue(@Query() query: OverdueStatisticsQuery): Promise<OverdueStatisticsView> {
    return this.overdueStatistics.overdue(query);
  }
}
