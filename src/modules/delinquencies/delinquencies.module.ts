import { Module } from '@nestjs/common';

import { DelinquenciesRepository } from './delinquencies.repository';
import { DelinquenciesTimeline } from './delinquencies-timeline';
import { DelinquencyRecorder } from './delinquency-recorder';
import { PartnerDelinquenciesController } from './partner-delinquencies.controller';

/**
 * Banks' delinquency reports (POST /partner/v1/delinquencies). What they change is read elsewhere: the pre-screen's
 * PARTNER_DELINQUENCY exclusion reads partner_delinquencies directly (prescreening/criteria).
 */
@Module({
  controllers: [PartnerDelinquenciesController],
  providers: [DelinquenciesRepository, DelinquencyRecorder, DelinquenciesTimeline],
  exports: [DelinquenciesTimeline],
})
export class DelinquenciesModule {}
