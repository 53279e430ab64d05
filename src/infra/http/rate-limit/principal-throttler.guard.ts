import { createHash } from 'node:crypto';

import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';

import { DomainError } from '../../../common/errors';
import { principalKey } from '../../../common/principal';

/** 429 with retry-after (whole seconds until the client's window reopens). */
export class RateLimitedError extends DomainError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate-limited', 'Too many requests', 'The rate limit of this client is exhausted; retry later', undefined, {
      'retry-after': String(Math.max(1, retryAfterSeconds)),
    });
  }
}

/**
 * Per-client rate limit (API.md): one budget per principal across all routes, counted in Redis so every api
 * instance shares it. Unauthenticated calls are counted per IP.
 *
 * NOTE for authentication: this is an APP_GUARD, and global guards run before controller guards. The principal must
 * therefore be on the request before it runs: set `request.principal` in a Fastify onRequest/preHandler hook, or
 * register the authentication guard as an APP_GUARD in a module imported before HttpConventionsModule. Otherwise
 * every caller is limited by IP only.
 */
@Injectable()
export class PrincipalThrottlerGuard extends ThrottlerGuard {
  // The parent class types the request this way.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protected override async getTracker(req: Record<string, any>): Promise<string> {
    return principalKey(req.principal, req.ip);
  }

  /** Not per route: the budget is the client's. Hashed so that no IP or subject sits in Redis in the clear. */
  protected override generateKey(_context: ExecutionContext, tracker: string, _name: string): string {
    return createHash('sha256').update(tracker).digest('base64url');
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new RateLimitedError(detail.timeToBlockExpire);
  }
}
