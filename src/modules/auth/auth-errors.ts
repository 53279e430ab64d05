import { DomainError } from '../../common/errors';

/** The resource realm named in every WWW-Authenticate challenge (RFC 6750 §3). */
export const REALM = 'referral-gateway';

const quoted = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/**
 * 401 with an RFC 6750 challenge: without a token only the realm; with a bad one `error="invalid_token"`.
 * Same problem type and title as UnauthorizedError, so every 401 looks alike to a client.
 */
export class AuthenticationRequiredError extends DomainError {
  constructor(failure?: string) {
    const challenge = failure
      ? `Bearer realm=${quoted(REALM)}, error="invalid_token", error_description=${quoted(failure)}`
      : `Bearer realm=${quoted(REALM)}`;
    super(401, 'unauthorized', 'Authentication required', failure ?? 'A valid bearer token is required', undefined, {
      'www-authenticate': challenge,
    });
  }
}

/** 403 for a partner token without the scope a route needs (RFC 6750 §3.1 insufficient_scope). */
export class InsufficientScopeError extends DomainError {
  constructor(scopes: string[]) {
    const scope = scopes.join(' ');
    super(403, 'insufficient-scope', 'Insufficient scope', `This call needs the scope ${scope}`, undefined, {
      'www-authenticate': `Bearer realm=${quoted(REALM)}, error="insufficient_scope", scope=${quoted(scope)}`,
    });
  }
}
