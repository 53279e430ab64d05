import { Module } from '@nestjs/common';

import { CreditRecordsModule } from '../credit-records/credit-records.module';
import { ReferralPackagingProcessor } from './packaging/referral-packaging.processor';
import { ReferralPackagingRepository } from './packaging/referral-packaging.repository';
import { ReferralPackagingFailure } from './packaging/referral-packaging-failure.handler';
import { PartnerReferralsController } from './partner/partner-referrals.controller';
import { PartnerReferralsRepository } from './partner/partner-referrals.repository';
import { PartnerReferralsService } from './partner/partner-referrals.service';
import { ReferralCoreModule } from './referral-core.module';
import { ReferralFileSealer } from './referral-file.sealer';
import { ReferralFilePurge } from './retention/referral-file-purge.handler';
import { ReferralFilePurgeRepository } from './retention/referral-file-purge.repository';

/** Packaging (referral file built, signed, sealed, READY), the partner referral API and the files' retention purge. */
@Module({
  imports: [ReferralCoreModule, CreditRecordsModule],
  controllers: [PartnerReferralsController],
  providers: [
    ReferralFileSealer,
    ReferralPackagingRepository,
    ReferralPackagingProcessor,
    ReferralPackagingFailure,
    PartnerReferralsRepository,
    PartnerReferralsService,
    ReferralFilePurgeRepository,
    ReferralFilePurge,
  ],
})
export class ReferralsModule {}
