import { createParamDecorator, ExecutionContext, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';

import { AppConfigService } from '../../infra/config/app-config';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput, AuditOutcome } from '../audit/audit-entry';
import { ANONYMOUS_TALLY_MAX_ADDRESSES, AnonymousCallTally } from './anonymous-calls.tally';
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

/** The entry of a call whose answer left with `status` after its `partner_api.call` entry committed for `recorded`. */
function answerChangedEntry(request: FastifyRequest, status: number, recorded: number): AuditEntryInput {
  const call = partnerCallEntry(request, status);
  return { ...call, action: 'partner_api.answer_changed', details: { ...(call.details as object), recordedStatus: recorded } };
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
 * handler already committed the entry for exactly this status (PartnerCallRecord) is not written twice; for another
 * status (the answer failed after the commit) a `partner_api.answer_changed` entry records the status that left.
 *
 * Failed calls without a partner credential deliver nothing and are aggregated instead (AnonymousCallTally): the first
 * of an address in a window is written as above, the rest are counted and written as one entry when the window ends
 * (every ANONYMOUS_RATE_LIMIT_WINDOW_SECONDS, and when the process stops).
 */
@Injectable()
export class PartnerCallAudit implements OnModuleDestroy {
  private readonly logger = new Logger(PartnerCallAudit.name);
  private readonly tally = new AnonymousCallTally();
  private readonly windowMs: number;
  /** Aggregated entries a failed flush could not write, tried again with the next one. */
  private unwritten: AuditEntryInput[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly audit: AuditWriter,
    config: AppConfigService,
  ) {
    this.windowMs = config.values.http.anonymousRateLimit.windowSeconds * 1000;
  }

  async onSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    if (!isPartnerCall(request)) return payload;
    const status = reply.statusCode;
    const recorded = committedCalls.get(request);
    if (recorded === status) return payload;
    // The call's entry is committed already, for another status (the answer failed after the commit): the call is on
    // record once, and what changed is a fact of its own, not a second call (the inbox cannot be corrected in place).
    const entry = recorded === undefined ? partnerCallEntry(request, status) : answerChangedEntry(request, status, recorded);
    const anonymous = entry.actorId === 'anonymous' && status >= 400;
    if (anonymous && this.suppressed(entry, status)) return payload;
    try {
      await this.audit.append(entry);
      return payload;
    } catch (error) {
      if (anonymous) this.tally.forget(entry.clientIp!);
      this.logger.error({ requestId: request.id, err: (error as Error).message }, 'partner call could not be audited');
      reply.code(503).header('content-type', 'application/problem+json').header('retry-after', '5');
      return unavailable(request.id);
    }
  }

  /** Writes the aggregated entries of the window that ends now (the timer's work; tests call it directly). */
  async flushAnonymousTallies(): Promise<void> {
    const entries = [...this.unwritten, ...this.tally.drain()];
    this.unwritten = [];
    try {
      if (entries.length) await this.audit.appendMany(entries);
    } catch (error) {
      // Kept for the next window (bounded: a database down for long loses the oldest counts, and says so).
      this.unwritten = entries.slice(-ANONYMOUS_TALLY_MAX_ADDRESSES);
      this.logger.error(
        { err: (error as Error).message, entries: entries.length, dropped: entries.length - this.unwritten.length },
        'aggregated anonymous partner calls could not be audited; retrying with the next window',
      );
    }
    // Idle until the next anonymous failure starts a window again.
    if (this.timer && this.tally.size === 0 && this.unwritten.length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flushAnonymousTallies();
  }

  private suppressed(entry: AuditEntryInput, status: number): boolean {
    const suppressed = this.tally.suppress(entry.clientIp!, status, entry.resourceId!);
    if (!this.timer && this.tally.size > 0) {
      this.timer = setInterval(() => void this.flushAnonymousTallies(), this.windowMs);
      this.timer.unref();
    }
    return suppressed;
  }
}
