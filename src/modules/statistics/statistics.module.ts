import { Module } from '@nestjs/common';

import { OverdueStatisticsRepository } from './overdue-statistics.repository';
import { OverdueStatistics } from './overdue-statistics.service';
import { ReferralStatisticsRepository } from './referral-statistics.repository';
import { ReferralStatistics } from './referral-statistics.service';
import { StatisticsController } from './statistics.controller';

/** Operator statistics over referrals and decisions, and over overdue notices and reports. */
@Module({
  controllers: [StatisticsController],
  providers: [ReferralStatisticsRepository, ReferralStatistics, OverdueStatisticsRepository, OverdueStatistics],
})
export class StatisticsModule {}
