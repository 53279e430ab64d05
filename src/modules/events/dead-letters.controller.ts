import { Controller, Get, Param, Query } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { decodeCursor, Page, PageQuery, toPage } from '../../common/pagination';
import { toPublicId } from '../../common/public-id';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { PartnersRepository } from '../partners/partners.repository';
import { DeadLetterView } from './partner-event';
import { DeadLetterRow, PartnerEventsRepository } from './partner-events.repository';

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** GET /v1/admin/partners/{code}/dead-letters: events whose push ran out of retries (still in the poll feed). */
@Controller('v1/admin/partners/:code/dead-letters')
@PlatformRoles('admin')
export class DeadLettersController {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly events: PartnerEventsRepository,
  ) {}

  @Get()
  async list(@Param('code') code: string, @Query() query: PageQuery): Promise<Page<DeadLetterView>> {
    const partner = await this.partners.findByCode(code);
    if (!partner) throw new NotFoundError('partner');
    const rows = await this.events.deadLetters(partner.id, decodeCursor(query.cursor), query.limit);
    return toPage(rows, query.limit, (r) => r.id, toView);
  }
}

function toView(r: DeadLetterRow): DeadLetterView {
  return {
    id: toPublicId('evt', r.id),
    type: r.event_type,
    txn: r.txn,
    createdAt: new Date(r.created_at).toISOString(),
    attempts: Number(r.push_attempts),
    lastError: r.push_last_error,
    lastAttemptAt: iso(r.push_last_attempt_at),
    deadAt: iso(r.push_dead_at),
    acknowledged: r.acknowledged_at !== null,
  };
}
