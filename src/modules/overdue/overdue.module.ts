import { Module } from '@nestjs/common';

import { MeOverdueNoticesController } from './me-overdue-notices.controller';
import { LoggingNoticeSender, NoticeSender } from './notice-sender';
import { OverdueChunkRepository } from './overdue-chunk.repository';
import { OverdueJobsProcessor } from './overdue-jobs.processor';
import { OverdueNoticesRepository } from './overdue-notices.repository';
import { OverdueNoticesService } from './overdue-notices.service';
import { OverdueRecordsRepository } from './overdue-records.repository';
import { OverdueReportFilesRepository } from './overdue-report-files.repository';
import { OverdueReportFilesService } from './overdue-report-files.service';
import { OverdueReportsService } from './overdue-reports.service';
import { OverdueScanExecution } from './overdue-scan-execution.service';
import { OverdueScansController } from './overdue-scans.controller';
import { OverdueScansRepository } from './overdue-scans.repository';
import { OverdueScansService } from './overdue-scans.service';
import { OverdueTimeline } from './overdue-timeline';
import { PartnerOverdueReportFilesController } from './partner-overdue-report-files.controller';
import { PartnerOverdueReportsController } from './partner-overdue-reports.controller';

/**
 * Overdue sharing (API.md "Overdue sharing"; docs/OVERDUE.md): daily scans of every cardholder for a business date,
 * notices to the user first, then report records to the bank (with their SETs, disclosures and audit entries), cures.
 * A real SMS or app-push channel replaces LoggingNoticeSender as the NoticeSender provider.
 */
@Module({
  controllers: [OverdueScansController, PartnerOverdueReportsController, PartnerOverdueReportFilesController, MeOverdueNoticesController],
  providers: [
    OverdueScansRepository,
    OverdueChunkRepository,
    OverdueRecordsRepository,
    OverdueNoticesRepository,
    OverdueReportFilesRepository,
    OverdueScansService,
    OverdueScanExecution,
    OverdueReportsService,
    OverdueReportFilesService,
    OverdueNoticesService,
    OverdueJobsProcessor,
    OverdueTimeline,
    { provide: NoticeSender, useClass: LoggingNoticeSender },
  ],
  exports: [OverdueScansService, OverdueTimeline],
})
export class OverdueModule {}
