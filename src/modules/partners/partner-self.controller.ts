import { Controller, Get } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { Actor, RequestActor } from '../auth/actor.decorator';
import { PartnerScopes } from '../auth/partner-scopes.guard';
import { PartnerDirectory } from './partner-directory';

/** GET /partner/v1/me: who the bank is authenticated as, and with which scopes (handy to test an integration). */
@Controller('partner/v1/me')
@PartnerScopes()
export class PartnerSelfController {
  constructor(private readonly directory: PartnerDirectory) {}

  @Get()
  async me(@Actor() actor: RequestActor) {
    const partner = await this.directory.byCode(actor.principal.id);
    if (!partner) throw new NotFoundError('partner');
    // scopes: what this token may do; grantedScopes: what the partner may ask for.
    return {
      code: partner.code,
      clientId: partner.code,
      name: partner.name,
      scopes: actor.principal.scopes ?? [],
      grantedScopes: partner.scopes,
    };
  }
}
