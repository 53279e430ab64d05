import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';

import helmet from '@fastify/helmet';
import { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';

import { AppConfig } from '../config/app-config';
import { setupOpenApi } from '../ops/openapi';
import { BODY_LIMIT, BULK_BODY_LIMIT, isBulkRoute } from './body-limits';
import { refuseDeepBodies } from './json-depth';
import { ProblemDetailsFilter } from './problem-details.filter';
import { AnonymousRateLimit } from './rate-limit/anonymous-limit';
import { refuseNonOriginForm } from './request-target';
import { createValidationPipe } from './validation';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The incoming x-request-id when it is well-formed, else a fresh one; kept on the raw request for the logger. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  (req as IncomingMessage & { id?: string }).id = id;
  return id;
}

/** Security headers (helmet). The Swagger UI at /docs needs inline scripts and styles; the JSON API itself serves no HTML. */
const HELMET_OPTIONS = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
    },
  },
};

/**
 * The headers @fastify/helmet sets with HELMET_OPTIONS, captured once from a throwaway instance. Registered on the
 * app, the plugin rebuilds helmet's middleware (option parsing, CSP text) on every request — ~5 % of the api's CPU
 * under partner load — although with these options (no nonces, no per-route settings) the headers depend on nothing
 * in the request. Exported for the test that checks they still match the plugin's.
 */
export async function securityHeaders(): Promise<Array<[string, string]>> {
  const probe = new FastifyAdapter({ logger: false }).getInstance();
  let captured: Array<[string, string]> = [];
  await probe.register(helmet, HELMET_OPTIONS);
  // Helmet writes its headers onto the raw response in its onRequest hooks; this one runs after them.
  probe.addHook('onRequest', async (_request, reply) => {
    captured = Object.entries(reply.raw.getHeaders()).map(([name, value]) => [name, String(value)]);
  });
  probe.get('/', async () => ({}));
  await probe.inject({ method: 'GET', url: '/' });
  await probe.close();
  if (!captured.some(([name]) => name === 'content-security-policy')) throw new Error('security headers could not be captured');
  return captured;
}

/**
 * Fastify's trustProxy from TRUST_PROXY (app-config.ts). A hop count becomes the function Fastify itself would make of
 * it (the nearest `hops` addresses are proxies); Nest's adapter types accept no number.
 */
function trustedProxies(setting: AppConfig['http']['trustProxy']) {
  return typeof setting === 'number' ? (_address: string, hop: number) => hop < setting : setting;
}

/**
 * Builds the HTTP application with the conventions of API.md applied once for every module:
 * request ids, body limits, NDJSON bodies, security headers (securityHeaders), validation and problem+json errors,
 * and the edge checks that run before authentication, in this order: origin-form targets only (request-target.ts),
 * then the per-address limit on callers without a credential (rate-limit/anonymous-limit.ts).
 */
export async function createHttpApp(module: DynamicModule, config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    genReqId: requestIdOf,
    requestIdHeader: false,
    bodyLimit: BULK_BODY_LIMIT,
    trustProxy: trustedProxies(config.http.trustProxy),
    // No implicit HEAD routes: Fastify would answer HEAD by running the GET handler and dropping the body, and some
    // GETs have effects (a partner's referral fetch records a disclosure and moves READY → DELIVERED). No client of
    // API.md needs HEAD; turning it off for the whole app means a future GET with effects cannot be reached by HEAD.
    exposeHeadRoutes: false,
    // Fastify logs through nestjs-pino instead.
    logger: false,
  });
  const fastify = adapter.getInstance();
  // Every route gets the 1 MiB limit unless it is declared bulk (10 MiB).
  fastify.addHook('onRoute', (route) => {
    route.bodyLimit = isBulkRoute(route.config) ? BULK_BODY_LIMIT : BODY_LIMIT;
  });
  fastify.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // CSV decision files arrive as text too (kept raw, parsed by the endpoint); text/plain stays refused below.
  fastify.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // JSON, NDJSON and CSV only (plus Nest's form parser for the token endpoint): anything else, text/plain included, is a 415.
  fastify.removeContentTypeParser('text/plain');
  const security = await securityHeaders();
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Set on the raw response as helmet itself does (a route's own value for one of them still wins).
    for (const [name, value] of security) reply.raw.setHeader(name, value);
    return refuseNonOriginForm(request, reply);
  });
  refuseDeepBodies(fastify);
  // Before the authentication hook (added by AuthHooks once Nest starts): a blocked address costs no token check.
  new AnonymousRateLimit(config).install(fastify);

  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new ProblemDetailsFilter());
  app.useGlobalPipes(createValidationPipe());
  setupOpenApi(app, config);
  await app.init();
  await fastify.ready();
  return app;
}
