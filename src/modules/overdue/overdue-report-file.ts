import { OverdueRecordRow, OverdueRecordView, toRecordView } from './overdue-record';

/** API.md: at most 10,000 records a part. */
export const OVERDUE_FILE_PART_SIZE = 10_000;
/**
 * The files' `exp`: how long the bank can verify what it keeps (and so how long the signing key stays in the JWKS).
 * A year's reconciliation plus slack; a fetch after that re-signs the same records as a new version.
 */
export const OVERDUE_FILE_LIFETIME_DAYS = 400;
/** A stored version this close to its exp is not handed out again: the bank would get a file about to expire. */
export const OVERDUE_FILE_RENEW_BEFORE_MS = 24 * 3600 * 1000;

/**
 * A record as the daily file carries it: the API record as it was made. `acknowledgedAt` is the bank's receipt
 * state, not part of the report, and would make the file's content depend on when it was first fetched.
 */
export type OverdueFileRecord = Omit<OverdueRecordView, 'acknowledgedAt'>;

export function toFileRecord(row: OverdueRecordRow): OverdueFileRecord {
  const { acknowledgedAt: _receipt, ...record } = toRecordView(row);
  return record;
}

/** Records in creation order cut into parts of at most `size`; a day with none is one empty part (API.md). */
export function splitIntoParts<T>(records: readonly T[], size = OVERDUE_FILE_PART_SIZE): T[][] {
  if (records.length === 0) return [[]];
  const parts: T[][] = [];
  for (let i = 0; i < records.length; i += size) parts.push(records.slice(i, i + size));
  return parts;
}

/** The claims of one part besides iss, aud, jti, iat and exp (set by the signing service). recordCount: this part's. */
export function fileClaims(reportDate: string, records: OverdueFileRecord[], part: number, parts: number): Record<string, unknown> {
  return { reportDate, records, recordCount: records.length, part, parts };
}

/** `GET /partner/v1/overdue-report-files/{date}` (API.md). */
export interface OverdueReportFilesView {
  reportDate: string;
  parts: number;
  files: string[];
}
