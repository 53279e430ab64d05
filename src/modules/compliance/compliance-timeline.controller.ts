import { Controller, Get, Param, Query, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';

import { PlatformRoles } from '../auth/platform-roles.guard';
import { parseTimelinePage } from './audit-event-query';
import { ComplianceReadInterceptor } from './compliance-read.interceptor';
import { ComplianceTimelineService, UserTimeline } from './compliance-timeline.service';

/**
 * Compliance API: everything about one user in time order. The only compliance answer with PII (the name and the
 * national id's last 4); opening it is audited with the officer and the user's hash (ComplianceReadInterceptor).
 */
@ApiTags('compliance')
@ApiBearerAuth()
@Controller('v1/compliance/users')
@PlatformRoles('compliance')
@UseInterceptors(ComplianceReadInterceptor)
export class ComplianceTimelineController {
  constructor(private readonly service: ComplianceTimelineService) {}

  @Get(':userId/timeline')
  @ApiOperation({ summary: "One user's consents, offers, applications, decisions, overdue sharing and disclosures, in time order" })
  timeline(@Param('userId') userId: string, @Query() query: Record<string, unknown>): Promise<UserTimeline> {
    return this.service.timeline(userId, parseTimelinePage(userId, query));
  }
}
