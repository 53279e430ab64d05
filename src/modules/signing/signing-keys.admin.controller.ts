import { Body, Controller, HttpCode, Post } from '@nestjs/common';

import { Actor, RequestActor } from '../auth/actor.decorator';
import { PlatformRoles } from '../auth/platform-roles.guard';
import { RotateSigningKeyDto } from './dto/rotate-signing-key.dto';
import { SigningService } from './signing.service';

/** Operators rotate the gateway signing key; the previous key keeps verifying and stays published while needed. */
@Controller('v1/admin/signing-keys')
@PlatformRoles('admin')
export class SigningKeysAdminController {
  constructor(private readonly signing: SigningService) {}

  /** 201: a rotation creates a key (API.md conventions). */
  @Post('rotate')
  @HttpCode(201)
  async rotate(@Body() body: RotateSigningKeyDto, @Actor() actor: RequestActor) {
    const key = await this.signing.rotate(
      { actorType: 'admin', actorId: actor.principal.id, requestId: actor.requestId, clientIp: actor.clientIp },
      body.alg,
    );
    return { kid: key.kid, alg: key.alg, use: 'sig', status: 'ACTIVE', previousKid: key.previousKid };
  }
}
