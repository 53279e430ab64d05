import { Module } from '@nestjs/common';

import { ComplianceAuditController } from './compliance-audit.controller';
import { ComplianceAuditService } from './compliance-audit.service';
import { ComplianceReadInterceptor } from './compliance-read.interceptor';
import { ConsoleAssets } from './console-assets';

/** The compliance officer's API under /v1/compliance (the audit trail's search, export and verification) and its console. */
@Module({
  controllers: [ComplianceAuditController],
  providers: [ComplianceAuditService, ComplianceReadInterceptor, ConsoleAssets],
})
export class ComplianceModule {}
