import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyInstance } from 'fastify';
import { PartnerCallAudit } from './partner-call.audit';
import { RequestAuthenticator } from './request-authenticator';

/**
 * Installs the authentication (onRequest) and partner-call audit (onSend) hooks on the api role's Fastify instance.
 * Hooks added before Fastify is ready apply to every route, Nest's and unmatched ones alike. The worker role has no
 * HTTP adapter and installs nothing.
 */
@Injectable()
export class AuthHooks implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly authenticator: RequestAuthenticator,
    private readonly partnerCalls: PartnerCallAudit,
  ) {}

  onModuleInit() {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return;
    const fastify = adapter.getInstance<FastifyInstance>();
    fastify.addHook('onRequest', (request, reply) => this.authenticator.onRequest(request, reply));
    fastify.addHook('onSend', async (request, reply, payload) => {
      // Token responses and token errors alike, problem+json ones (413, 429) included, must never be cached.
      if (request.url.split('?')[0] === '/oauth/token') reply.header('cache-control', 'no-store');
      return this.partnerCalls.onSend(request, reply, payload);
    });
  }
}
