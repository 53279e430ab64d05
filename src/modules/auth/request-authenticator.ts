import { Injectable, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import * as jwt from 'jsonwebtoken';
import { ForbiddenError } from '../../common/errors';
import { Principal } from '../../common/principal';
import { AppConfigService } from '../../infra/config/app-config';
import { PartnerDirectory } from '../partners/partner-directory';
import { PartnerScope } from '../partners/partner';
import { SigningService } from '../signing/signing.service';
import { routeGroupOf } from './auth-context';
import { AuthenticationRequiredError } from './auth-errors';
import { challenge } from './platform-roles.guard';
import { PlatformJwtVerifier, TokenRefused } from './platform-jwt.verifier';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Establishes `request.principal` from the bearer token, in a Fastify onRequest hook: before every Nest guard, so the
 * rate limiter (an APP_GUARD keyed by the principal) and everything after it see who calls. The token's issuer picks
 * the verifier (gateway access token or platform JWT); each verifier then checks everything itself. Route groups
 * (auth-context.ts) are closed to anyone but their principal here; guards on each route narrow roles and scopes.
 */
@Injectable()
export class RequestAuthenticator {
  private readonly logger = new Logger(RequestAuthenticator.name);
  private readonly gatewayIssuer: string;

  constructor(
    config: AppConfigService,
    private readonly platform: PlatformJwtVerifier,
    private readonly signing: SigningService,
    private readonly partners: PartnerDirectory,
  ) {
    this.gatewayIssuer = config.values.publicBaseUrl;
  }

  async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const group = routeGroupOf(request.url);
    const header = request.headers.authorization;
    if (header !== undefined) {
      const token = BEARER.exec(header)?.[1];
      if (!token) request.authFailure = 'The Authorization header is not a bearer token';
      else {
        try {
          request.principal = await this.authenticate(token, group?.principal);
        } catch (error) {
          if (!(error instanceof TokenRefused)) {
            this.logger.error({ requestId: request.id, err: (error as Error).message }, 'token verification failed');
            throw error;
          }
          request.authFailure = error.message;
        }
      }
    }
    if (!group) return;
    const principal = request.principal;
    if (!principal) throw challenge(reply, new AuthenticationRequiredError(request.authFailure));
    if (principal.type !== group.principal) throw new ForbiddenError('This credential may not use this resource');
  }

  private async authenticate(token: string, preferred: Principal['type'] | undefined): Promise<Principal> {
    const unverified = jwt.decode(token, { json: true });
    if (!unverified) throw new TokenRefused('The token is not a JWT');
    return unverified.iss === this.gatewayIssuer ? this.partnerPrincipal(token) : this.platform.verify(token, preferred);
  }

  /** A gateway access token (typ at+jwt, aud = the gateway) of a partner that is still active. */
  private async partnerPrincipal(token: string): Promise<Principal> {
    let claims: Record<string, unknown>;
    try {
      claims = await this.signing.verify('access-token', token, { audience: this.gatewayIssuer });
    } catch {
      throw new TokenRefused('The access token is not valid or has expired');
    }
    if (typeof claims.sub !== 'string' || typeof claims.scope !== 'string') throw new TokenRefused('The access token is not valid');
    const partner = await this.partners.byCode(claims.sub);
    if (!partner || partner.status !== 'ACTIVE') throw new TokenRefused('The client is not active');
    // Scopes withdrawn from the partner since the token was issued no longer count.
    const scopes = claims.scope.split(' ').filter((s) => partner.scopes.includes(s as PartnerScope));
    return { type: 'partner', id: partner.code, partnerId: partner.id, scopes };
  }
}
