import { createHash, timingSafeEqual } from 'node:crypto';

import { DomainError } from '../../common/errors';
import { Principal } from '../../common/principal';

/** The realm of every bearer challenge of the gateway (the same as src/modules/auth/auth-errors.ts). */
const CHALLENGE = 'Bearer realm="referral-gateway"';

const BEARER = /^Bearer +(\S+)$/i;
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Who may read /metrics (API.md, Operations): a Prometheus scraper presenting `Authorization: Bearer <METRICS_TOKEN>`,
 * or an operator (a platform token with role admin, already verified into `principal`). Metrics name partners and
 * products and show the traffic's shape, so everyone else is refused.
 */
export function mayReadMetrics(authorization: string | undefined, metricsToken: string | undefined, principal?: Principal): boolean {
  return presentsMetricsToken(authorization, metricsToken) || (principal?.type !== 'partner' && !!principal?.roles?.includes('admin'));
}

/**
 * True when the header is exactly `Bearer <METRICS_TOKEN>`. Both sides are hashed first, so the comparison takes the
 * same time whatever the length or the first differing byte of a guess. No token configured matches nothing.
 */
export function presentsMetricsToken(authorization: string | undefined, metricsToken: string | undefined): boolean {
  if (!metricsToken || typeof authorization !== 'string') return false;
  const presented = BEARER.exec(authorization)?.[1];
  return presented !== undefined && timingSafeEqual(digest(presented), digest(metricsToken));
}

/** 401 problem+json with a bearer challenge, for anyone /metrics does not answer. */
export class MetricsAccessRefused extends DomainError {
  constructor() {
    super(
      401,
      'unauthorized',
      'Authentication required',
      'Metrics answer the scraper token (METRICS_TOKEN) or an operator token',
      undefined,
      {
        'www-authenticate': CHALLENGE,
      },
    );
  }
}
