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
 * Verifies JWTs of the platform's identity provider with the configured key, the algorithm pinned to that key's type
 * (RS256 for RSA, ES256 for EC P-256, HS256 only for a development/test secret, which config refuses in production),
 * and iss, aud, exp and sub checked.
 */
@Injectable()
export class PlatformJwtVerifier {
  private readonly key: KeyObject;
  private readonly algorithms: jwt.Algorithm[];
  readonly issuer: string;
  private readonly audience: string;

  constructor(config: AppConfigService) {
    const { publicKey, secret, issuer, audience } = config.values.platformJwt;
    this.issuer = issuer;
    this.audience = audience;
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
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, this.key, {
        algorithms: this.algorithms,
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
      }) as jwt.JwtPayload;
    } catch (error) {
      throw new TokenRefused(error instanceof jwt.TokenExpiredError ? 'The token has expired' : 'The token is not valid');
    }
    if (typeof claims.exp !== 'number') throw new TokenRefused('The token has no expiry');
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
