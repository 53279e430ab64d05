import { Injectable, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { AuditOutcome } from '../audit/audit-entry';
import { AuditWriter } from '../audit/audit.writer';
import { isPartnerPath } from './auth-context';

const unavailable = (instance: string) =>
  JSON.stringify({
    type: 'https://errors.referral-gateway.dev/service-unavailable',
    title: 'Service unavailable',
    status: 503,
    detail: 'The call could not be recorded; retry later',
    instance,
  });

export function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'SUCCESS';
  return status === 401 || status === 403 || status === 429 ? 'DENIED' : 'FAILURE';
}

/**
 * Writes one audit entry for every /partner/v1 call, allowed or denied (401/403/404/429 and unknown routes too), in
 * Fastify's onSend hook: after every guard, filter and handler has had its say, and before the answer leaves. If the
 * entry cannot be written the answer is replaced by a 503: a partner call that left no trace must not deliver data.
 * Only the route template, method and path parameters are recorded: never the body, query or headers.
 */
@Injectable()
export class PartnerCallAudit {
  private readonly logger = new Logger(PartnerCallAudit.name);

  constructor(private readonly audit: AuditWriter) {}

  async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    if (!isPartnerPath(request.url)) return payload;
    const principal = request.principal?.type === 'partner' ? request.principal : undefined;
    const status = reply.statusCode;
    try {
      await this.audit.append({
        actorType: 'partner',
        actorId: principal?.id ?? 'anonymous',
        action: 'partner_api.call',
        resourceType: 'route',
        resourceId: `${request.method} ${request.routeOptions.url ?? '(no route)'}`.slice(0, 128),
        partnerCode: principal?.id,
        requestId: request.id,
        clientIp: request.ip,
        outcome: outcomeOf(status),
        httpStatus: status,
        details: { params: request.params ?? {} },
      });
      return payload;
    } catch (error) {
      this.logger.error({ requestId: request.id, err: (error as Error).message }, 'partner call could not be audited');
      reply.code(503).header('content-type', 'application/problem+json').header('retry-after', '5');
      return unavailable(request.id);
    }
  }
}
