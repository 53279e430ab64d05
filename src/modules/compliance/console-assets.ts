import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import fastifyStatic from '@fastify/static';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyInstance } from 'fastify';

/**
 * The console's own Content-Security-Policy, stricter than the gateway-wide one (which allows inline script and style
 * for the Swagger UI at /docs): the console holds a compliance token in session storage, so nothing but its own files
 * may run or load, it talks to its own origin only, and no page may frame it. `form-action 'none'`: its forms are
 * handled by script and never submitted, so a token typed into one can never be posted anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The repository's console/ folder, found upwards from this file (src/ under jest, dist/ when built; as config/). */
export function consoleRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'console', 'index.html'))) return join(dir, 'console');
  }
  throw new Error('the console files (console/index.html) were not found above ' + __dirname);
}

/**
 * Serves the compliance console (console/*, plain ES modules, no build step) at /console/ on the api role. One route
 * per file, listed at start-up (no wildcard: an unknown path is an ordinary 404); `/console` redirects to `/console/`
 * (the browser keeps a `#token=…` fragment across it). Public in the route-group gate (PUBLIC_ROUTES): the files hold
 * no data; every API call the page makes carries the officer's token.
 */
@Injectable()
export class ConsoleAssets implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit() {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    const root = consoleRoot();
    void fastify.register(async (scope) => {
      // @fastify/static adds HEAD beside each GET; the gateway answers no HEAD (http-app.factory.ts), files included.
      scope.addHook('onRoute', (route) => {
        if (Array.isArray(route.method)) route.method = route.method.filter((m) => m !== 'HEAD');
      });
      await scope.register(fastifyStatic, {
        root,
        prefix: '/console/',
        wildcard: false,
        redirect: true,
        index: 'index.html',
        decorateReply: false,
        serveDotFiles: false,
        // Small files that change with each release: always revalidated (ETag), never served stale.
        cacheControl: false,
        // Set on the reply, so they win over the gateway-wide values written on the raw response (http-app.factory.ts).
        setHeaders: (reply) => void reply.header('content-security-policy', CONSOLE_CSP).header('cache-control', 'no-cache'),
      });
    });
  }
}
