import { Injectable, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import * as jwt from 'jsonwebtoken';

import { ForbiddenError, NotFoundError } from '../../common/errors';
import { Principal } from '../../common/principal';
import { AppConfigService } from '../../infra/config/app-config';
import { PartnerScope } from '../partners/partner';
import { PartnerDirectory } from '../partners/partner-directory';
import { KEY_CACHE_TTL_MS, SigningService } from '../signing/signing.service';
import { PlatformRole, routeAccessOf } from './auth-context';
import { AuthenticationRequiredError } from './auth-errors';
import { CLOCK_SKEW_SECONDS, PlatformJwtVerifier, platformPrincipal, TokenRefused } from './platform-jwt.verifier';
import { challenge } from './platform-roles.guard';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** Most verified tokens one process remembers; the oldest is dropped first. */
export const VERIFIED_TOKEN_CACHE_MAX = 10_000;
/**
 * A remembered verification is trusted at most this long before the signature is checked again: as long as the
 * process trusts its copy of the signing-key table, so a key withdrawn from the table stops working as soon as it
 * would without the cache.
 */
export const VERIFIED_TOKEN_TTL_MS = KEY_CACHE_TTL_MS;

/** What a verified token proved, as far as it does not depend on the current state of the partner. */
type VerifiedToken =
  | { kind: 'access'; sub: string; scope: string; exp: number; until: number }
  | { kind: 'platform'; sub: string; roles: PlatformRole[]; exp: number; until: number };

/**
 * Establishes `request.principal` from the bearer token, in a Fastify onRequest hook: before every Nest guard, so the
 * rate limiter (an APP_GUARD keyed by the principal) and everything after it see who calls. The token's issuer picks
 * the verifier (gateway access token or platform JWT); each verifier then checks everything itself. Route groups
 * (auth-context.ts) are closed to anyone but their principal here, and routes listed nowhere to everyone; guards on
 * each route narrow roles and scopes.
 */
@Injectable()
export class RequestAuthenticator {
  private readonly logger = new Logger(RequestAuthenticator.name);
  private readonly gatewayIssuer: string;
  /** Verified tokens by their exact text (see authenticate). */
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(
    config: AppConfigService,
    private readonly platform: PlatformJwtVerifier,
    private readonly signing: SigningService,
    private readonly partners: PartnerDirectory,
  ) {
    this.gatewayIssuer = config.values.publicBaseUrl;
  }

  async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const access = routeAccessOf(request);
    if (access === 'closed') {
      // A route in no group and not listed as public: a programming mistake, refused rather than left open.
      this.logger.error({ requestId: request.id, route: request.routeOptions.url }, 'route is in no route group and not public: refused');
      throw new NotFoundError();
    }
    const group = access === 'public' || access === 'unrouted' ? undefined : access;
    const header = request.headers.authorization;
    if (header !== undefined) {
      const token = BEARER.exec(header)?.[1];
      if (!token) request.authFailure = 'The Authorization header is not a bearer token';
      else {
        try {
          request.principal = await this.authenticate(token, group);
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
    if (principal.type !== group) throw new ForbiddenError('This credential may not use this resource');
  }

  /**
   * Signature verification (ES256 for access tokens, ~100+ µs) is remembered per token string: a bank reuses its
   * access token for up to its lifetime, so nearly every call would verify the same bytes again. What is remembered
   * is only what the signature proved (subject, scope or roles, exp); `exp` is checked on every use exactly as
   * jsonwebtoken checks it, and everything that can change under a valid token — the partner's status and scopes
   * (PartnerDirectory, re-read within its TTL) and the principal's role choice — is still decided per request.
   */
  private async authenticate(token: string, preferred: Principal['type'] | undefined): Promise<Principal> {
    const now = Date.now();
    let known = this.verified.get(token);
    if (known && (known.until <= now || Math.floor(now / 1000) >= known.exp + (known.kind === 'platform' ? CLOCK_SKEW_SECONDS : 0))) {
      this.verified.delete(token);
      known = undefined;
    }
    if (!known) {
      const unverified = jwt.decode(token, { json: true });
      if (!unverified) throw new TokenRefused('The token is not a JWT');
      known = unverified.iss === this.gatewayIssuer ? await this.verifyAccessToken(token) : this.verifyPlatformToken(token);
      if (this.verified.size >= VERIFIED_TOKEN_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, known);
    }
    if (known.kind === 'platform') return platformPrincipal(known.sub, known.roles, preferred);
    return this.partnerPrincipal(known.sub, known.scope);
  }

  /** A gateway access token (typ at+jwt, aud = the gateway, not expired), signature and claims checked. */
  private async verifyAccessToken(token: string): Promise<VerifiedToken> {
    let claims: Record<string, unknown>;
    try {
      claims = await this.signing.verify('access-token', token, { audience: this.gatewayIssuer });
    } catch {
      throw new TokenRefused('The access token is not valid or has expired');
    }
    if (typeof claims.sub !== 'string' || typeof claims.scope !== 'string' || typeof claims.exp !== 'number')
      throw new TokenRefused('The access token is not valid');
    return { kind: 'access', sub: claims.sub, scope: claims.scope, exp: claims.exp, until: Date.now() + VERIFIED_TOKEN_TTL_MS };
  }

  /** A platform JWT, fully checked by PlatformJwtVerifier (which requires `exp`). */
  private verifyPlatformToken(token: string): VerifiedToken {
    const { sub, roles, exp } = this.platform.verifyClaims(token);
    return { kind: 'platform', sub, roles, exp, until: Date.now() + VERIFIED_TOKEN_TTL_MS };
  }

  /** The principal of a verified access token, if its partner is still active (status re-read within the directory's TTL). */
  private async partnerPrincipal(code: string, scope: string): Promise<Principal> {
    const partner = await this.partners.byCode(code);
    if (!partner || partner.status !== 'ACTIVE') throw new TokenRefused('The client is not active');
    // Scopes withdrawn from the partner since the token was issued no longer count.
    const scopes = scope.split(' ').filter((s) => partner.scopes.includes(s as PartnerScope));
    return { type: 'partner', id: partner.code, partnerId: partner.id, scopes };
  }
}
