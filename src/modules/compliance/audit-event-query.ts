import { FieldError, ValidationFailedError } from '../../common/errors';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../../common/pagination';
import { AuditActorType, AuditOutcome } from '../audit/audit-entry';
import { PARTNER_CODE } from '../partners/partner';

/** The audit-trail filters of the compliance API, validated; `userId` is still the raw id (hashed by the service). */
export interface AuditEventFilters {
  actorType?: AuditActorType;
  actorId?: string;
  partner?: string;
  userId?: string;
  action?: string;
  actionPrefix?: string;
  outcome?: AuditOutcome;
  from?: Date;
  to?: Date;
}

export type ExportFormat = 'ndjson' | 'csv';

const ACTOR_TYPES: readonly AuditActorType[] = ['partner', 'platform', 'user', 'admin', 'compliance', 'system'];
const OUTCOMES: readonly AuditOutcome[] = ['SUCCESS', 'DENIED', 'FAILURE'];
const FORMATS: readonly ExportFormat[] = ['ndjson', 'csv'];
/** Platform user ids as everywhere else (credit_records.user_id). */
export const USER_ID = /^[\x21-\x7e]{1,64}$/;
/** audit_events.actor_id is VARCHAR(128). */
const ACTOR_ID = /^[\x21-\x7e]{1,128}$/;
/** Dotted action names; `.*` at the end asks for every action under that prefix. */
const ACTION = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(\.\*)?$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const SEQ = /^\d{1,15}$/;

const FILTER_KEYS = ['actorType', 'actorId', 'partner', 'userId', 'action', 'from', 'to', 'outcome'];

/**
 * An RFC 3339 date-time as a Date, or null. Strict: a date alone, a missing offset or an impossible day (Feb 30) is
 * refused rather than rolled over. Digits beyond milliseconds round up: events are stored to the millisecond, so the
 * bound keeps its meaning for both an inclusive `from` and an exclusive `to`.
 */
export function parseRfc3339(text: string): Date | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const fraction = m[7] ?? '';
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return null;
  const offsetMinutes = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  if (m[8] && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const millis = Number(fraction.padEnd(3, '0').slice(0, 3)) + (/[1-9]/.test(fraction.slice(3)) ? 1 : 0);
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000);
  date.setUTCFullYear(date.getUTCFullYear() + year - 2000);
  return date;
}

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Collects every refusal of one query, so the 400 names each bad field at once. */
class QueryReader {
  readonly errors: FieldError[] = [];

  constructor(
    private readonly query: Record<string, unknown>,
    allowed: string[],
  ) {
    for (const key of Object.keys(query)) if (!allowed.includes(key)) this.fail(key, 'is not an accepted parameter');
  }

  fail(field: string, message: string): undefined {
    this.errors.push({ field, message });
    return undefined;
  }

  /** One value: a repeated parameter is refused, not silently narrowed to its first or last value. */
  text(key: string): string | undefined {
    const value = this.query[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return this.fail(key, 'takes one value');
    return value;
  }

  matching(key: string, pattern: RegExp, message: string): string | undefined {
    const value = this.text(key);
    if (value === undefined || pattern.test(value)) return value;
    return this.fail(key, message);
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const value = this.text(key);
    if (value === undefined || (values as readonly string[]).includes(value)) return value as T | undefined;
    return this.fail(key, `must be one of ${values.join(', ')}`);
  }

  time(key: string): Date | undefined {
    const value = this.text(key);
    if (value === undefined) return undefined;
    return parseRfc3339(value) ?? this.fail(key, 'must be an RFC 3339 date-time with an offset, e.g. 2026-11-22T08:00:00Z');
  }

  integer(key: string, min: number, max: number, message: string): number | undefined {
    const value = this.text(key);
    if (value === undefined) return undefined;
    const n = SEQ.test(value) ? Number(value) : NaN;
    return n >= min && n <= max ? n : this.fail(key, message);
  }

  done<T>(value: T): T {
    if (this.errors.length) throw new ValidationFailedError(this.errors);
    return value;
  }
}

function readFilters(q: QueryReader): AuditEventFilters {
  const action = q.matching('action', ACTION, 'must be an action name, or a prefix ending in .* (e.g. partner_api.*)');
  const filters: AuditEventFilters = {
    actorType: q.oneOf('actorType', ACTOR_TYPES),
    actorId: q.matching('actorId', ACTOR_ID, 'must be 1-128 printable characters'),
    partner: q.matching('partner', PARTNER_CODE, 'must be a partner code'),
    userId: q.matching('userId', USER_ID, 'must be 1-64 printable characters'),
    outcome: q.oneOf('outcome', OUTCOMES),
    from: q.time('from'),
    to: q.time('to'),
  };
  if (action?.endsWith('.*')) filters.actionPrefix = action.slice(0, -1);
  else if (action !== undefined) filters.action = action;
  if (filters.from && filters.to && filters.to < filters.from) q.fail('to', 'must not be before from');
  return filters;
}

/** `GET /v1/compliance/audit-events`: the filters, `limit` (1–500, default 100) and `cursor`. */
export function parseAuditEventSearch(query: Record<string, unknown>): { filters: AuditEventFilters; limit: number; cursor?: string } {
  const q = new QueryReader(query, [...FILTER_KEYS, 'limit', 'cursor']);
  const filters = readFilters(q);
  const limit = q.integer('limit', 1, MAX_PAGE_LIMIT, `must be an integer from 1 to ${MAX_PAGE_LIMIT}`) ?? DEFAULT_PAGE_LIMIT;
  const cursor = q.matching('cursor', /^[A-Za-z0-9_-]{1,512}$/, 'is not a valid cursor');
  return q.done({ filters, limit, cursor });
}

/** `GET /v1/compliance/audit-events/export`: the same filters and `format` (ndjson by default); no paging. */
export function parseAuditEventExport(query: Record<string, unknown>): { filters: AuditEventFilters; format: ExportFormat } {
  const q = new QueryReader(query, [...FILTER_KEYS, 'format']);
  const filters = readFilters(q);
  const format = q.oneOf('format', FORMATS) ?? 'ndjson';
  return q.done({ filters, format });
}

/** `GET /v1/compliance/audit/verify`: a seq range, the whole chain by default. */
export function parseVerifyRange(query: Record<string, unknown>): { from?: number; to?: number } {
  const q = new QueryReader(query, ['from', 'to']);
  const from = q.integer('from', 1, Number.MAX_SAFE_INTEGER, 'must be a positive sequence number');
  const to = q.integer('to', 1, Number.MAX_SAFE_INTEGER, 'must be a positive sequence number');
  if (from !== undefined && to !== undefined && to < from) q.fail('to', 'must not be below from');
  return q.done({ from, to });
}

/** `GET /v1/compliance/users/{userId}/timeline`: `limit` (1–500, default 100) and `cursor`; the user id is checked here too. */
export function parseTimelinePage(userId: string, query: Record<string, unknown>): { limit: number; cursor?: string } {
  const q = new QueryReader(query, ['limit', 'cursor']);
  if (!USER_ID.test(userId)) q.fail('userId', 'must be 1-64 printable characters');
  const limit = q.integer('limit', 1, MAX_PAGE_LIMIT, `must be an integer from 1 to ${MAX_PAGE_LIMIT}`) ?? DEFAULT_PAGE_LIMIT;
  const cursor = q.matching('cursor', /^[A-Za-z0-9_-]{1,512}$/, 'is not a valid cursor');
  return q.done({ limit, cursor });
}
