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
  const { secret, issuer, audience } = config.platformJwt;
  if (config.nodeEnv === 'production' || !secret) {
    throw new Error('development platform tokens need PLATFORM_JWT_SECRET, outside production');
  }
  return jwt.sign({ roles: claims.roles }, secret, {
    algorithm: 'HS256',
    issuer,
    audience,
    subject: claims.sub,
    jwtid: randomUUID(),
    expiresIn: claims.expiresInSeconds ?? 3600,
  });
}
