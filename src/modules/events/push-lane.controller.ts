import { Controller, Get, Param } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { PartnersRepository } from '../partners/partners.repository';
import { PushLaneView } from './partner-event';
import { PushLanes } from './push-lanes';

/**
 * GET /v1/admin/partners/{code}/push-lane: the partner's push circuit and lane as the workers see them now (the same
 * state as the `partner_push_circuit_state` and `partner_push_in_flight` metrics), for an operator asking why its
 * pushes wait.
 */
@Controller('v1/admin/partners/:code/push-lane')
@PlatformRoles('admin')
export class PushLaneController {
  constructor(
    private readonly partners: PartnersRepository,
    private readonly lanes: PushLanes,
  ) {}

  @Get()
  async show(@Param('code') code: string): Promise<PushLaneView> {
    const partner = await this.partners.findByCode(code);
    if (!partner) throw new NotFoundError('partner');
    const { circuit, inFlight, limit } = await this.lanes.state(partner.id);
    return {
      circuit: { ...circuit, openUntil: circuit.openUntil?.toISOString() ?? null },
      inFlight,
      limit,
    };
  }
}
