import { Module } from '@nestjs/common';

import { CreditRecordsModule } from '../credit-records/credit-records.module';
import { ReferralPackagingProcessor } from './packaging/referral-packaging.processor';
import { ReferralPackagingRepository } from './packaging/referral-packaging.repository';
import { PartnerReferralsController } from './partner/partner-referrals.controller';
import { PartnerReferralsRepository } from './partner/partner-referrals.repository';
import { PartnerReferralsService } from './partner/partner-referrals.service';
import { ReferralCoreModule } from './referral-core.module';

/** Packaging (referral file built, signed, READY) and the partner referral API. */
@Module({
  imports: [ReferralCoreModule, CreditRecordsModule],
  controllers: [PartnerReferralsController],
  providers: [ReferralPackagingRepository, ReferralPackagingProcessor, PartnerReferralsRepository, PartnerReferralsService],
})
export class ReferralsModule {}
