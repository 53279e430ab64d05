import { Readable } from 'node:stream';

import { Injectable } from '@nestjs/common';

import { Page } from '../../common/pagination';
import { AppConfigService } from '../../infra/config/app-config';
import { AuditRepository, AuditSearchFilters } from '../audit/audit.repository';
import { AuditWriter } from '../audit/audit.writer';
import { AuditVerification, AuditVerifier } from '../audit/audit-verifier.service';
import { AuditEventView, EXPORT_ENCODINGS, toAuditEventView } from './audit-event.view';
import { AuditEventFilters, ExportFormat } from './audit-event-query';
import { auditExportStream } from './audit-export.stream';
import { exportsBusy } from './compliance-errors';

export interface AuditExport {
  stream: Readable;
  contentType: string;
  filename: string;
}

/** The compliance officer's view of the audit trail: search, export and verification, all through the audit module. */
@Injectable()
export class ComplianceAuditService {
  /** Exports of this process whose stream has not closed yet. */
  private exportsStreaming = 0;

  constructor(
    private readonly repository: AuditRepository,
    private readonly writer: AuditWriter,
    private readonly verifier: AuditVerifier,
    private readonly config: AppConfigService,
  ) {}

  async search(filters: AuditEventFilters, page: { limit: number; cursor?: string }): Promise<Page<AuditEventView>> {
    const { data, nextCursor } = await this.repository.search(this.toSearch(filters), page);
    return { data: data.map(toAuditEventView), nextCursor };
  }

  /**
   * A lazily opened stream: the query starts when the response first reads it. An export holds a pooled connection
   * for as long as it streams, so a process streams at most `exportConcurrency` at once; a slot is freed when the
   * stream closes, whether it ended or its client went away.
   */
  export(filters: AuditEventFilters, format: ExportFormat): AuditExport {
    const limit = this.config.values.audit.exportConcurrency;
    if (this.exportsStreaming >= limit) throw exportsBusy(limit);
    const encoding = EXPORT_ENCODINGS[format];
    const search = this.toSearch(filters);
    const stamp = `${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}Z`;
    const stream = auditExportStream(() => this.repository.openSearchStream(search), encoding);
    this.exportsStreaming++;
    stream.once('close', () => this.exportsStreaming--);
    return {
      stream,
      contentType: encoding.contentType,
      filename: `audit-events-${stamp}.${encoding.extension}`,
    };
  }

  /** The same verifier as `cli audit:verify`, so both give the same answer. */
  verify(range: { from?: number; to?: number }): Promise<AuditVerification> {
    return this.verifier.verify(range);
  }

  /** The trail holds no user id: a user is found through the keyed hash that stands for them. */
  private toSearch({ partner, userId, ...rest }: AuditEventFilters): AuditSearchFilters {
    return {
      ...rest,
      ...(partner !== undefined ? { partnerCode: partner } : {}),
      ...(userId !== undefined ? { subjectUserHash: this.writer.subjectHash(userId) } : {}),
    };
  }
}
