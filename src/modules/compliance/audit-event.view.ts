import { AuditActorType, AuditEvent, AuditOutcome } from '../audit/audit-entry';

/** One audit event as API.md's compliance API answers it: the stored fields as hashed, optional ones absent when null. */
export interface AuditEventView {
  seq: number;
  at: string;
  action: string;
  actor: { type: AuditActorType; id: string };
  partner?: string;
  resource?: { type: string | null; id: string | null };
  subjectUserHash?: string;
  requestId?: string;
  clientIp?: string;
  outcome: AuditOutcome;
  httpStatus?: number;
  details?: unknown;
  prevHash: string;
  hash: string;
}

export function toAuditEventView(e: AuditEvent): AuditEventView {
  return {
    seq: e.seq,
    at: e.occurredAt.toISOString(),
    action: e.action,
    actor: { type: e.actorType, id: e.actorId },
    ...(e.partnerCode !== null ? { partner: e.partnerCode } : {}),
    ...(e.resourceType !== null || e.resourceId !== null ? { resource: { type: e.resourceType, id: e.resourceId } } : {}),
    ...(e.subjectUserHash !== null ? { subjectUserHash: e.subjectUserHash } : {}),
    ...(e.requestId !== null ? { requestId: e.requestId } : {}),
    ...(e.clientIp !== null ? { clientIp: e.clientIp } : {}),
    outcome: e.outcome,
    ...(e.httpStatus !== null ? { httpStatus: e.httpStatus } : {}),
    // Canonical JSON text: parsing and serialising it again gives back the very text that was hashed.
    ...(e.details !== null ? { details: JSON.parse(e.details) as unknown } : {}),
    prevHash: e.prevHash,
    hash: e.hash,
  };
}

/** How an export writes events: an optional first line and one line per event. */
export interface ExportEncoding {
  contentType: string;
  extension: string;
  header: string;
  line(e: AuditEvent): string;
}

const CSV_COLUMNS = [
  'seq',
  'at',
  'action',
  'actorType',
  'actorId',
  'partner',
  'resourceType',
  'resourceId',
  'subjectUserHash',
  'requestId',
  'clientIp',
  'outcome',
  'httpStatus',
  'details',
  'prevHash',
  'hash',
];

/** RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled. Null is an empty field. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Lines end with CRLF (RFC 4180); `details` is the canonical JSON text exactly as hashed. */
const csvLine = (fields: (string | number | null)[]) => `${fields.map(csvField).join(',')}\r\n`;

export const EXPORT_ENCODINGS: Record<'ndjson' | 'csv', ExportEncoding> = {
  ndjson: {
    contentType: 'application/x-ndjson',
    extension: 'ndjson',
    header: '',
    line: (e) => `${JSON.stringify(toAuditEventView(e))}\n`,
  },
  csv: {
    contentType: 'text/csv; charset=utf-8',
    extension: 'csv',
    header: csvLine(CSV_COLUMNS),
    line: (e) =>
      csvLine([
        e.seq,
        e.occurredAt.toISOString(),
        e.action,
        e.actorType,
        e.actorId,
        e.partnerCode,
        e.resourceType,
        e.resourceId,
        e.subjectUserHash,
        e.requestId,
        e.clientIp,
        e.outcome,
        e.httpStatus,
        e.details,
        e.prevHash,
        e.hash,
      ]),
  },
};
