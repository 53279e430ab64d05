import { randomUUID } from 'node:crypto';

import * as jwt from 'jsonwebtoken';

import { AppConfig } from '../../infra/config/app-config';
import { PlatformRole } from './auth-context';

/**
 * Mints a platform JWT with the configured HS256 secret, as the platform's identity provider would: for local
 * development, the CLI and tests. Production has no secret (config refuses one), so this cannot work there.
 */
export function mintDevelopmentPlatformToken(
  config: Pick<AppConfig, 'nodeEnv' | 'platformJwt'>,
  claims: { sub: string; roles: PlatformRole[]; expiresInSeconds?: number },
): string {
  const { secret, issuer, audience, maxLifetimeSeconds } = config.platformJwt;
  if (config.nodeEnv === 'production' || !secret) {
    throw new Error('development platform tokens need PLATFORM_JWT_SECRET, outside production');
  }
  const expiresIn = claims.expiresInSeconds ?? Math.min(3600, maxLifetimeSeconds);
  if (expiresIn > maxLifetimeSeconds)
    throw new Error(`a platform token may live at most PLATFORM_JWT_MAX_LIFETIME_SECONDS (${maxLifetimeSeconds} s)`);
  // jsonwebtoken sets iat, which the gateway requires.
  return jwt.sign({ roles: claims.roles }, secret, {
    algorithm: 'HS256',
    issuer,
    audience,
    subject: claims.sub,
    jwtid: randomUUID(),
    expiresIn,
  });
}
