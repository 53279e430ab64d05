import { Module } from '@nestjs/common';

import { PartnersModule } from '../partners/partners.module';
import { AuthHooks } from './auth-hooks';
import { ClientAssertionVerifier } from './oauth/client-assertion.verifier';
import { JtiReplayStore } from './oauth/jti-replay.store';
import { OAuthTokenController } from './oauth/oauth-token.controller';
import { OAuthTokenService } from './oauth/oauth-token.service';
import { PartnerCallAudit } from './partner-call.audit';
import { PlatformJwtVerifier } from './platform-jwt.verifier';
import { RequestAuthenticator } from './request-authenticator';

/**
 * Who is calling: platform JWTs, partner access tokens (and the token endpoint that issues them), the route-group
 * gate, and the audit of every partner call. Guards (PlatformRoles, PartnerScopes) need nothing from here but the
 * request, so any module can use them without importing this one.
 */
@Module({
  imports: [PartnersModule],
  controllers: [OAuthTokenController],
  providers: [
    PlatformJwtVerifier,
    RequestAuthenticator,
    PartnerCallAudit,
    AuthHooks,
    ClientAssertionVerifier,
    JtiReplayStore,
    OAuthTokenService,
  ],
  exports: [PlatformJwtVerifier],
})
export class AuthModule {}
