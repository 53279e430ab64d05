import { FastifyRequest } from 'fastify';

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
 * narrow) what each route needs. A prefix matches a route template equal to it or under it (`prefix/…`).
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

/**
 * Routes anyone may reach without a credential (same prefix rule). /metrics and /oauth/token check their callers
 * themselves (METRICS_TOKEN; the client assertion); the gate leaves them to those checks. Every other route is in a
 * group above or is closed: a new controller outside both lists answers 404 until it is listed (deny by default).
 */
export const PUBLIC_ROUTES: string[] = ['/health', '/.well-known/jwks.json', '/oauth/token', '/metrics', '/docs', '/docs-json', '/console'];

/**
 * Who may reach what a request asks for: one principal type, anyone ('public'), no one ('closed': a route listed
 * nowhere), or nothing is there ('unrouted': no route matched and the path is in no group; a 404 follows).
 */
export type RouteAccess = PrincipalType | 'public' | 'closed' | 'unrouted';

const under = (template: string, prefix: string) => template === prefix || template.startsWith(`${prefix}/`);

/** The access of a route template (undefined when neither table lists it). */
export function routeAccessOfTemplate(template: string): PrincipalType | 'public' | undefined {
  const group = ROUTE_GROUPS.find((g) => under(template, g.prefix));
  if (group) return group.principal;
  return PUBLIC_ROUTES.some((p) => under(template, p)) ? 'public' : undefined;
}

/** Templates are few and fixed, so each one is classified once. */
const accessByTemplate = new Map<string, RouteAccess>();

/**
 * The access of a request, decided from the route the router matched (`routeOptions.url`, a template such as
 * `/partner/v1/referrals/:id`), never from the raw target: the router decodes `%61`, accepts absolute-form targets
 * and so on, and a gate reading the raw URL saw a different path from the one that ran.
 *
 * A request that matched no route (a 404 is coming) has no template. It is classified by its path decoded and
 * normalised as loosely as any reader might (percent-decoding, case, empty and dot segments, trailing dots), so that
 * probes of a group's paths are still refused as that group (401/403, not a 404 that tells what exists) and probes
 * of the partner API are still audited. Nothing is served either way, so being generous here costs nothing.
 */
export function routeAccessOf(request: FastifyRequest): RouteAccess {
  const template = request.routeOptions.url;
  if (template === undefined || request.is404) {
    // `//host/path` reads as a path with an empty segment or as a network-path reference: either group counts.
    const readings = [request.url, request.url.replace(/^\/\/[^/]*/, '')].map((url) => routeAccessOfTemplate(normalisedPath(url)));
    return readings.find((r): r is PrincipalType => r !== undefined && r !== 'public') ?? 'unrouted';
  }
  let access = accessByTemplate.get(template);
  if (access === undefined) {
    access = routeAccessOfTemplate(template) ?? 'closed';
    accessByTemplate.set(template, access);
  }
  return access;
}

/** A raw path as loosely read as possible (see routeAccessOf); only ever used to classify a request with no route. */
export function normalisedPath(url: string): string {
  let path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split(/[?#]/)[0];
  for (let i = 0; i < 3 && path.includes('%'); i++) {
    try {
      path = decodeURIComponent(path);
    } catch {
      break;
    }
  }
  const segments: string[] = [];
  for (const raw of path.toLowerCase().split(/[/\\]/)) {
    const segment = raw.split(';')[0];
    if (segment === '..') segments.pop();
    else if (segment.replace(/[.\s\0]+$/, '') !== '') segments.push(segment.replace(/[.\s\0]+$/, ''));
  }
  return `/${segments.join('/')}`;
}

export const isPartnerCall = (request: FastifyRequest) => routeAccessOf(request) === 'partner';
