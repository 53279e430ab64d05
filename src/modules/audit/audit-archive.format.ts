import { AuditEvent } from './audit-entry';

/**
 * The archive file (docs/AUDIT.md, "Retention and archives"): UTF-8 NDJSON, one line per chained entry in seq order,
 * then one last line `{"manifest":"<JWS>"}`. An entry line holds every hashed field under its AuditEvent name, times
 * in ISO 8601 UTC and `details` as the canonical JSON text exactly as hashed, so anyone can recompute each hash.
 * The manifest (typ `audit-archive+jwt`) is signed by the gateway and states the segment: its seqs, the hash before
 * its first entry and of its last, the SHA-256 of every byte before the manifest line, and the checkpoint the segment
 * ends at (its own signed token included).
 */
export const ARCHIVE_MANIFEST_SUBJECT = 'audit-archive';

/**
 * A manifest's exp bounds how long its key must stay in the public JWKS (publishedUntil), which is what lets anyone
 * verify an archive offline: ten years, beyond the usual five-year duty to keep the trail. Verifiers ignore exp.
 */
export const ARCHIVE_MANIFEST_TTL_SECONDS = 3650 * 24 * 3600;

export interface ArchiveManifestClaims {
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** The hash the first archived entry links to (64 zeros for the chain's first segment). */
  firstPrevHash: string;
  lastHash: string;
  /** Hex SHA-256 of the entry lines (every byte before the manifest line). */
  sha256: string;
  checkpoint: { seq: number; hash: string; token: string };
}

export type ArchiveLine = Omit<AuditEvent, 'occurredAt'> & { occurredAt: string };

export const archiveLine = (e: AuditEvent): string => `${JSON.stringify({ ...e, occurredAt: e.occurredAt.toISOString() })}\n`;

export const manifestLine = (token: string): string => `${JSON.stringify({ manifest: token })}\n`;

/** An entry line back to the event it encodes (throws on a line that is not one). */
export function parseArchiveLine(line: string): AuditEvent {
  const raw = JSON.parse(line) as ArchiveLine;
  if (typeof raw.seq !== 'number' || typeof raw.occurredAt !== 'string' || typeof raw.hash !== 'string') {
    throw new Error('not an audit entry line');
  }
  return { ...raw, occurredAt: new Date(raw.occurredAt) };
}

/** `audit-000000000001-000000004000.ndjson`: zero-padded, so a directory listing is in chain order. */
export const archiveFileName = (firstSeq: number, lastSeq: number) =>
  `audit-${String(firstSeq).padStart(12, '0')}-${String(lastSeq).padStart(12, '0')}.ndjson`;
