import { Module } from '@nestjs/common';

import { ReferralStatisticsRepository } from './referral-statistics.repository';
import { ReferralStatistics } from './referral-statistics.service';
import { StatisticsController } from './statistics.controller';

/** Operator statistics over referrals and decisions. */
@Module({
  controllers: [StatisticsController],
  providers: [ReferralStatisticsRepository, ReferralStatistics],
})
export class StatisticsModule {}
