import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import * as jwt from 'jsonwebtoken';

import { Principal, PrincipalType } from '../../common/principal';
import { AppConfigService } from '../../infra/config/app-config';
import { PLATFORM_ROLES, PlatformRole } from './auth-context';

/** Small clock skew between the platform's identity provider and us. */
export const CLOCK_SKEW_SECONDS = 30;

export class TokenRefused extends Error {}

/**
 * Header `typ` values of a token meant for us: a plain JWT or an RFC 9068 access token (RFC 7515 §4.1.9: compared
 * case-insensitively, `application/` optional). Other typed JWTs of the identity provider (logout tokens, security
 * event tokens, ...) are signed with the same key but are not access credentials. No `typ` at all is common and accepted.
 */
const ACCEPTED_TYPES = ['jwt', 'at+jwt'];
const acceptedType = (typ: unknown) => typeof typ === 'string' && ACCEPTED_TYPES.includes(typ.toLowerCase().replace(/^application\//, ''));

/**
 * Verifies JWTs of the platform's identity provider with the configured key, the algorithm pinned to that key's type
 * (RS256 for RSA, ES256 for EC P-256, HS256 only for a development/test secret, which config refuses in production),
 * and iss, aud, exp, iat and sub checked: iat is required, not in the future, and exp - iat at most
 * PLATFORM_JWT_MAX_LIFETIME_SECONDS, so a token minted to live for days is refused rather than honoured.
 */
@Injectable()
export class PlatformJwtVerifier {
  private readonly key: KeyObject;
  private readonly algorithms: jwt.Algorithm[];
  readonly issuer: string;
  private readonly audience: string;
  private readonly maxLifetimeSeconds: number;

  constructor(config: AppConfigService) {
    const { publicKey, secret, issuer, audience, maxLifetimeSeconds } = config.values.platformJwt;
    this.issuer = issuer;
    this.audience = audience;
    this.maxLifetimeSeconds = maxLifetimeSeconds;
    // A public key wins over a secret when both are set: the secret is only a development convenience.
    if (publicKey) {
      this.key = createPublicKey(publicKey);
      this.algorithms = [algorithmOf(this.key)];
    } else {
      this.key = createSecretKey(Buffer.from(secret!, 'utf8'));
      this.algorithms = ['HS256'];
    }
  }

  /** The principal the token proves, acting as `preferred` when it holds that role. Throws TokenRefused. */
  verify(token: string, preferred?: PrincipalType): Principal {
    const { sub, roles } = this.verifyClaims(token);
    return platformPrincipal(sub, roles, preferred);
  }

  /** What the token proves: its subject, this gateway's roles among its roles, and its expiry. Throws TokenRefused. */
  verifyClaims(token: string): VerifiedPlatformClaims {
    let header: jwt.JwtHeader;
    let claims: jwt.JwtPayload;
    try {
      ({ header, payload: claims } = jwt.verify(token, this.key, {
        algorithms: this.algorithms,
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        complete: true,
      }) as jwt.Jwt & { payload: jwt.JwtPayload });
    } catch (error) {
      throw new TokenRefused(error instanceof jwt.TokenExpiredError ? 'The token has expired' : 'The token is not valid');
    }
    if ('typ' in header && !acceptedType(header.typ)) throw new TokenRefused('The token is not an access token (typ)');
    if (typeof claims.exp !== 'number') throw new TokenRefused('The token has no expiry');
    if (typeof claims.iat !== 'number') throw new TokenRefused('The token has no issue time (iat)');
    if (claims.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) throw new TokenRefused('The token is issued in the future (iat)');
    if (claims.exp - claims.iat > this.maxLifetimeSeconds) {
      throw new TokenRefused(`The token lives longer than ${this.maxLifetimeSeconds} seconds (exp - iat)`);
    }
    if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 128)
      throw new TokenRefused('The token has no valid subject');
    const roles = Array.isArray(claims.roles)
      ? (claims.roles.filter((r) => PLATFORM_ROLES.includes(r as PlatformRole)) as PlatformRole[])
      : [];
    if (roles.length === 0) throw new TokenRefused('The token carries no role of this gateway');
    return { sub: claims.sub, roles, exp: claims.exp };
  }
}

export interface VerifiedPlatformClaims {
  sub: string;
  roles: PlatformRole[];
  exp: number;
}

/** The principal of verified platform claims, acting as `preferred` when the token holds that role. */
export function platformPrincipal(sub: string, roles: readonly PlatformRole[], preferred?: PrincipalType): Principal {
  const type = preferred && roles.includes(preferred as PlatformRole) ? (preferred as PlatformRole) : roles[0];
  return { type, id: sub, roles: [...roles] };
}

function algorithmOf(key: KeyObject): jwt.Algorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error('PLATFORM_JWT_PUBLIC_KEY must be an RSA or EC P-256 public key');
}
