/**
 * Who is calling, as established by authentication and attached to the request (`request.principal`).
 * Rate limits, idempotency keys and audit entries are all keyed by it.
 */
export type PrincipalType = 'partner' | 'platform' | 'user' | 'admin' | 'compliance';

export interface Principal {
  type: PrincipalType;
  /** Partner code (client id) for partners, `sub` of the platform JWT otherwise. */
  id: string;
  /** Roles of a platform JWT. */
  roles?: string[];
  /** Granted scopes of a partner access token. */
  scopes?: string[];
  /** Internal partner id, for partner principals. */
  partnerId?: string;
}

/** A stable key for per-principal state (rate limits, idempotency). */
export const principalKey = (p: Principal | undefined, ip: string): string => (p ? `${p.type}:${p.id}` : `ip:${ip}`);

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}
