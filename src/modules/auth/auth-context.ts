import { PrincipalType } from '../../common/principal';

export const PLATFORM_ROLES = ['platform', 'user', 'admin', 'compliance'] as const;
export type PlatformRole = (typeof PLATFORM_ROLES)[number];

declare module 'fastify' {
  interface FastifyRequest {
    /** Why a presented credential was refused (safe to show the client); set by the authentication hook. */
    authFailure?: string;
  }
}

/**
 * Route groups and who may enter them. The authentication hook refuses a request to a group before any route code
 * runs, so a controller that forgets its guard decorator is closed, not open; the decorators still state (and
 * narrow) what each route needs.
 */
export const ROUTE_GROUPS: { prefix: string; principal: PrincipalType }[] = [
  { prefix: '/partner/v1', principal: 'partner' },
  { prefix: '/v1/admin', principal: 'admin' },
  { prefix: '/v1/compliance', principal: 'compliance' },
  { prefix: '/v1/me', principal: 'user' },
  { prefix: '/v1/platform', principal: 'platform' },
  // Bull Board is a Fastify plugin out of reach of Nest guards; closing its prefix here makes it operator-only.
  // A browser reaches it through an authenticating proxy that adds the operator's bearer token (docs/OPERATIONS.md).
  { prefix: '/admin/queues', principal: 'admin' },
];

export function routeGroupOf(url: string): (typeof ROUTE_GROUPS)[number] | undefined {
  const path = url.split('?')[0];
  return ROUTE_GROUPS.find((g) => path === g.prefix || path.startsWith(`${g.prefix}/`));
}

export const isPartnerPath = (url: string) => routeGroupOf(url)?.principal === 'partner';
