import { CallHandler, ExecutionContext, HttpException, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { catchError, from, mergeMap, Observable, throwError } from 'rxjs';

import { DomainError } from '../../common/errors';
import { AuditWriter } from '../audit/audit.writer';
import { AuditOutcome } from '../audit/audit-entry';

/** Query parameters of compliance routes whose values are recorded as given (none of them can name a person). */
const RECORDED = new Set(['actorType', 'actorId', 'partner', 'action', 'from', 'to', 'outcome', 'limit', 'cursor', 'format']);
const MAX_VALUE = 128;
const MAX_FIELDS = 20;

const clip = (value: unknown): unknown =>
  typeof value === 'string' ? value.slice(0, MAX_VALUE) : Array.isArray(value) ? value.slice(0, 5).map(clip) : undefined;

/**
 * Records every call to a compliance route as `compliance.read`: the officer, the route, the filters used, outcome
 * and status. A user id (the `userId` filter or path parameter) is recorded only as its keyed hash, in the filters
 * and as the entry's subject, so "who looked this person up" is itself a search by user. Unknown parameters are
 * named among the invalid fields, their values never kept.
 *
 * Runs after the guards (a refused token is not a compliance read) and around the pipes and the handler, so a 400
 * is recorded too. A success is recorded before the answer leaves: a read that left no trace must not deliver data.
 */
@Injectable()
export class ComplianceReadInterceptor implements NestInterceptor {
  private readonly logger = new Logger(ComplianceReadInterceptor.name);

  constructor(private readonly audit: AuditWriter) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    return next.handle().pipe(
      mergeMap(async (body: unknown) => {
        await this.record(request, 'SUCCESS', reply.statusCode || 200, summary(body));
        return body;
      }),
      catchError((error: unknown) => {
        const status = statusOf(error);
        const invalid = error instanceof DomainError && error.errors?.length ? { invalid: fieldsOf(error) } : {};
        const recorded = this.record(request, status === 401 || status === 403 ? 'DENIED' : 'FAILURE', status, invalid).catch(
          (auditError: unknown) => this.logger.error(`could not record a failed compliance read: ${String(auditError)}`),
        );
        return from(recorded).pipe(mergeMap(() => throwError(() => error)));
      }),
    );
  }

  private async record(request: FastifyRequest, outcome: AuditOutcome, httpStatus: number, extra: Record<string, unknown>) {
    const { filters, userHash } = this.filtersOf(request);
    await this.audit.append({
      actorType: 'compliance',
      actorId: request.principal?.id ?? 'unknown',
      action: 'compliance.read',
      subjectUserHash: userHash,
      requestId: request.id,
      clientIp: request.ip,
      outcome,
      httpStatus,
      details: { route: request.routeOptions.url, filters, ...extra },
    });
  }

  private filtersOf(request: FastifyRequest): { filters: Record<string, unknown>; userHash?: string } {
    const filters: Record<string, unknown> = {};
    const query = (request.query ?? {}) as Record<string, unknown>;
    for (const [key, value] of Object.entries(query).slice(0, MAX_FIELDS)) {
      if (RECORDED.has(key)) filters[key] = clip(value);
    }
    const userId = (request.params as Record<string, unknown> | undefined)?.userId ?? query.userId;
    let userHash: string | undefined;
    if (typeof userId === 'string') userHash = filters.userHash = this.audit.subjectHash(userId);
    else if (Array.isArray(userId)) filters.userHash = userId.slice(0, 5).map((id) => this.audit.subjectHash(String(id)));
    return { filters, userHash };
  }
}

/** What the answer held, in counts only. */
function summary(body: unknown): Record<string, unknown> {
  if (body && typeof body === 'object') {
    const b = body as { data?: unknown; ok?: unknown; firstBrokenSeq?: unknown };
    if (Array.isArray(b.data)) return { returned: b.data.length };
    if (typeof b.ok === 'boolean') return { ok: b.ok, ...(b.firstBrokenSeq !== undefined ? { firstBrokenSeq: b.firstBrokenSeq } : {}) };
  }
  return {};
}

function statusOf(error: unknown): number {
  if (error instanceof DomainError) return error.status;
  if (error instanceof HttpException) return error.getStatus();
  return 500;
}

const fieldsOf = (error: DomainError) => [...new Set(error.errors!.map((e) => String(e.field).slice(0, 64)))].slice(0, MAX_FIELDS);
