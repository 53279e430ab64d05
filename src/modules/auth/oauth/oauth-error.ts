import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import { FastifyReply } from 'fastify';

import { REALM } from '../auth-errors';

export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';

/**
 * An RFC 6749 §5.2 token-endpoint error. `reason` is a short internal code for the audit trail; `description`
 * is what the client reads and never echoes the assertion.
 */
export class OAuthError extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly reason: string = error,
    /** The partner the assertion named, once it is known to exist (for the audit entry of a refusal). */
    public partnerCode?: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }

  get status(): number {
    return this.error === 'invalid_client' ? 401 : 400;
  }
}

/**
 * Renders OAuthError as `{ error, error_description }` (not problem+json: OAuth clients parse this shape). Anything
 * else (413, 429, 500) falls through to the global problem+json filter.
 */
@Catch(OAuthError)
export class OAuthErrorFilter implements ExceptionFilter {
  catch(exception: OAuthError, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    reply.status(exception.status).header('cache-control', 'no-store').header('pragma', 'no-cache');
    // RFC 6749 §5.2: a 401 for a failed client authentication carries a challenge.
    if (exception.status === 401) reply.header('www-authenticate', `Bearer realm="${REALM}", error="invalid_client"`);
    reply
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ error: exception.error, error_description: exception.description }));
  }
}
