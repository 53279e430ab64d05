import { Injectable } from '@nestjs/common';

import { BasePayload } from '../../infra/queues/job-catalogue';
import { JobHandler } from '../../infra/queues/job-handler.decorator';
import { ArchivalOutcome, AuditArchiver } from './audit-archiver.service';

/** `audit/audit.archive` (daily, SCHEDULES): archives and removes the closed segments past the audit retention. */
@Injectable()
export class AuditArchiveProcessor {
  constructor(private readonly archiver: AuditArchiver) {}

  @JobHandler('audit', 'audit.archive')
  async archive(payload: BasePayload): Promise<ArchivalOutcome> {
    return this.archiver.archiveDue(payload.correlationId);
  }
}
