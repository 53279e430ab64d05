import { createParamDecorator, ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';

import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput, AuditOutcome } from '../audit/audit-entry';
import { isPartnerCall } from './auth-context';

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

/** The `partner_api.call` entry of a request answered with `status`: route template, method and path parameters only. */
export function partnerCallEntry(request: FastifyRequest, status: number): AuditEntryInput {
  const principal = request.principal?.type === 'partner' ? request.principal : undefined;
  return {
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
  };
}

/**
 * Requests whose `partner_api.call` entry a handler already committed, with the status it was recorded for. A WeakMap
 * rather than a property: adding one to some requests only would give Fastify's request objects a second shape.
 */
const committedCalls = new WeakMap<FastifyRequest, number>();

/**
 * A handler's hold on its own request's `partner_api.call` entry. A handler that commits a transaction anyway (the
 * partner fetch) writes the entry in it and says so; the onSend hook then skips the answer — but only if it leaves
 * with the status that was recorded. Any later failure that changes the status (serialisation, an interceptor) is
 * still recorded by the hook, so no answer ever leaves without an entry for its own status.
 */
export class PartnerCallRecord {
  constructor(private readonly request: FastifyRequest) {}

  /** The entry the onSend hook would write for an answer with `status`. */
  entry(status: number): AuditEntryInput {
    return partnerCallEntry(this.request, status);
  }

  /** Call only once `entry(status)` is committed. */
  committed(status: number): void {
    committedCalls.set(this.request, status);
  }
}

/** `@PartnerCall() call: PartnerCallRecord` in a /partner/v1 controller. */
export const PartnerCall = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): PartnerCallRecord => new PartnerCallRecord(ctx.switchToHttp().getRequest<FastifyRequest>()),
);

/**
 * Writes one audit entry for every /partner/v1 call, allowed or denied (401/403/404/429 and unknown routes too), in
 * Fastify's onSend hook: after every guard, filter and handler has had its say, and before the answer leaves. If the
 * entry cannot be written the answer is replaced by a 503: a partner call that left no trace must not deliver data.
 * Only the route template, method and path parameters are recorded: never the body, query or headers. A call whose
 * handler already committed the entry for exactly this status (PartnerCallRecord) is not written twice.
 */
@Injectable()
export class PartnerCallAudit {
  private readonly logger = new Logger(PartnerCallAudit.name);

  constructor(private readonly audit: AuditWriter) {}

  async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    if (!isPartnerCall(request)) return payload;
    const status = reply.statusCode;
    if (committedCalls.get(request) === status) return payload;
    try {
      await this.audit.append(partnerCallEntry(request, status));
      return payload;
    } catch (error) {
      this.logger.error({ requestId: request.id, err: (error as Error).message }, 'partner call could not be audited');
      reply.code(503).header('content-type', 'application/problem+json').header('retry-after', '5');
      return unavailable(request.id);
    }
  }
}
