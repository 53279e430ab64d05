import { Module } from '@nestjs/common';

import { ReferralCoreModule } from '../referrals/referral-core.module';
import { LateReferralsController } from './late-referrals.controller';
import { ReferralSlaProcessor } from './referral-sla.processor';
import { ReferralSlaRepository } from './referral-sla.repository';
import { ReferralSla } from './referral-sla.service';

/**
 * Decision SLAs: the delayed check and expiry jobs, the late flag and the operator's late listing. ReferralSla is
 * exported for the application use case, which schedules the check when it creates a referral.
 */
@Module({
  imports: [ReferralCoreModule],
  controllers: [LateReferralsController],
  providers: [ReferralSlaRepository, ReferralSla, ReferralSlaProcessor],
  exports: [ReferralSla],
})
export class SlaModule {}
