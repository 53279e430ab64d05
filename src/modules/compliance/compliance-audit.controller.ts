import { Controller, Get, Query, StreamableFile, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { Page } from '../../common/pagination';
import { AuditVerification } from '../audit/audit-verifier.service';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { AuditEventView } from './audit-event.view';
import { parseAuditEventExport, parseAuditEventSearch, parseVerifyRange } from './audit-event-query';
import { ComplianceAuditService } from './compliance-audit.service';
import { ComplianceReadInterceptor } from './compliance-read.interceptor';

/**
 * Compliance API over the audit trail. Queries are read as plain records and validated by audit-event-query (the
 * filters have rules a DTO states poorly: one value each, RFC 3339 times, action prefixes); every call is audited.
 */
@ApiTags('compliance')
@ApiBearerAuth()
@Controller('v1/compliance')
@PlatformRoles('compliance')
@UseInterceptors(ComplianceReadInterceptor)
export class ComplianceAuditController {
  constructor(private readonly service: ComplianceAuditService) {}

  @Get('audit-events')
  @ApiOperation({ summary: 'Search the audit trail in chain (seq) order, cursor-paginated' })
  search(@Query() query: Record<string, unknown>): Promise<Page<AuditEventView>> {
    const { filters, limit, cursor } = parseAuditEventSearch(query);
    return this.service.search(filters, { limit, cursor });
  }

  @Get('audit-events/export')
  @ApiOperation({ summary: 'Stream every matching event as NDJSON or CSV (RFC 4180), in constant memory' })
  export(@Query() query: Record<string, unknown>): StreamableFile {
    const { filters, format } = parseAuditEventExport(query);
    const { stream, contentType, filename } = this.service.export(filters, format);
    return new StreamableFile(stream, { type: contentType, disposition: `attachment; filename="${filename}"` });
  }

  @Get('audit/verify')
  @ApiOperation({ summary: 'Recompute the hash chain and check the signed checkpoints over a seq range' })
  verify(@Query() query: Record<string, unknown>): Promise<AuditVerification> {
    return this.service.verify(parseVerifyRange(query));
  }
}
