import { Module } from '@nestjs/common';

import { ApplicationsModule } from '../applications/applications.module';
import { CreditRecordsModule } from '../credit-records/credit-records.module';
import { DecisionsModule } from '../decisions/decisions.module';
import { DelinquenciesModule } from '../delinquencies/delinquencies.module';
import { OffersModule } from '../offers/offers.module';
import { OverdueModule } from '../overdue/overdue.module';
import { ComplianceAuditController } from './compliance-audit.controller';
import { ComplianceAuditService } from './compliance-audit.service';
import { ComplianceReadInterceptor } from './compliance-read.interceptor';
import { ComplianceTimelineController } from './compliance-timeline.controller';
import { ComplianceTimelineService } from './compliance-timeline.service';
import { ConsoleAssets } from './console-assets';

/**
 * The compliance officer's API under /v1/compliance: the audit trail's search, export and verification, and a user's
 * timeline merged from the modules that own its parts (each exports its TimelineSource; disclosures' is global); and
 * the console that uses them.
 */
@Module({
  imports: [OffersModule, ApplicationsModule, DecisionsModule, OverdueModule, DelinquenciesModule, CreditRecordsModule],
  controllers: [ComplianceAuditController, ComplianceTimelineController],
  providers: [ComplianceAuditService, ComplianceReadInterceptor, ComplianceTimelineService, ConsoleAssets],
})
export class ComplianceModule {}
