import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { FastifyInstance } from 'fastify';

import { PROBLEM_CONTENT_TYPE, toProblem } from '../../infra/http/problem-details';
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
    // Refusals are answered here rather than thrown: routes outside Nest (Bull Board's plugin) have an error handler
    // of their own that would turn a 401 into a 500. The answer is the same problem+json the global filter gives.
    fastify.addHook('onRequest', async (request, reply) => {
      try {
        await this.authenticator.onRequest(request, reply);
      } catch (error) {
        const { problem, headers, serverFault } = toProblem(error, request.id);
        if (serverFault) throw error;
        return reply.status(problem.status).headers(headers).header('content-type', PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
      }
    });
    fastify.addHook('onSend', async (request, reply, payload) => {
      // Token responses and token errors alike, problem+json ones (413, 429) included, must never be cached.
      if (request.routeOptions.url === '/oauth/token') reply.header('cache-control', 'no-store');
      return this.partnerCalls.onSend(request, reply, payload);
    });
  }
}
