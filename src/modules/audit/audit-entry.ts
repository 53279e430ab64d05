import { createHash } from 'node:crypto';

export type AuditActorType = 'partner' | 'platform' | 'user' | 'admin' | 'compliance' | 'system';
export type AuditOutcome = 'SUCCESS' | 'DENIED' | 'FAILURE';

/** What a caller records. Never PII: a user appears only as `subjectUserHash` (AuditWriter.subjectHash). */
export interface AuditEntryInput {
  actorType: AuditActorType;
  actorId: string;
  /** Dotted verb, e.g. 'partner.created', 'oauth.token.issued', 'partner_api.call'. */
  action: string;
  resourceType?: string;
  resourceId?: string;
  subjectUserHash?: string;
  partnerCode?: string;
  requestId?: string;
  clientIp?: string;
  outcome: AuditOutcome;
  httpStatus?: number;
  details?: Record<string, unknown>;
}

/** One chained entry as stored in audit_events. */
export interface AuditEvent {
  seq: number;
  occurredAt: Date;
  actorType: AuditActorType;
  actorId: string;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  subjectUserHash: string | null;
  partnerCode: string | null;
  requestId: string | null;
  clientIp: string | null;
  outcome: AuditOutcome;
  httpStatus: number | null;
  /** The canonical JSON text exactly as hashed (null when the entry has no details). */
  details: string | null;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
const HASH_VERSION = 1;

/** JSON with object keys sorted at every depth, so equal content always gives the same text and hash. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * SHA-256 over a canonical encoding of every field of the entry plus the previous hash: a JSON array in a
 * fixed order (so no field can be shifted into another), times in ISO 8601 UTC with milliseconds.
 */
export function hashEntry(e: Omit<AuditEvent, 'hash'>): string {
  const encoded = JSON.stringify([
    HASH_VERSION,
    e.seq,
    e.occurredAt.toISOString(),
    e.actorType,
    e.actorId,
    e.action,
    e.resourceType,
    e.resourceId,
    e.subjectUserHash,
    e.partnerCode,
    e.requestId,
    e.clientIp,
    e.outcome,
    e.httpStatus,
    e.details,
    e.prevHash,
  ]);
  return createHash('sha256').update(encoded, 'utf8').digest('hex');
}
