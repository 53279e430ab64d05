import { Module } from '@nestjs/common';

import { ReferralCoreModule } from '../referrals/referral-core.module';
import { SlaModule } from '../sla/sla.module';
import { ApplicationsRepository } from './applications.repository';
import { ApplicationsService } from './applications.service';
import { ApplicationsTimeline } from './applications-timeline';
import { ConsentsService } from './consents.service';
import { MeApplicationsController } from './me-applications.controller';
import { MeConsentsController } from './me-consents.controller';
import { MeDisclosuresController } from './me-disclosures.controller';

/**
 * The applicant API (/v1/me): consent texts, applications (referral creation), withdrawal, consents and their
 * revocation, and the user's disclosures. Live offers are listed by OffersModule; PartnerEvents and DisclosureLedger
 * come from their global modules.
 */
@Module({
  imports: [ReferralCoreModule, SlaModule],
  controllers: [MeApplicationsController, MeConsentsController, MeDisclosuresController],
  providers: [ApplicationsRepository, ApplicationsService, ConsentsService, ApplicationsTimeline],
  exports: [ApplicationsService, ApplicationsTimeline],
})
export class ApplicationsModule {}
