import { Global, Module } from '@nestjs/common';

import { ComplianceDisclosuresController } from './compliance-disclosures.controller';
import { DisclosureLedger } from './disclosure-ledger';
import { DisclosuresRepository } from './disclosures.repository';
import { DisclosuresTimeline } from './disclosures-timeline';

/** The disclosure ledger. Global: referral fetches, pushes and overdue reports all record through it. */
@Global()
@Module({
  controllers: [ComplianceDisclosuresController],
  providers: [DisclosuresRepository, DisclosureLedger, DisclosuresTimeline],
  exports: [DisclosureLedger, DisclosuresTimeline],
})
export class DisclosuresModule {}
