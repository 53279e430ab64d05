/**
 * A user's timeline as the compliance API assembles it (docs/COMPLIANCE.md): every owning module answers "the user's
 * entries after this point" from its own tables, and the compliance module merges the answers. Entries are ordered by
 * (at, kind, id): `at` to the millisecond as stored, `kind` to break ties between modules, the row's own id within a
 * kind. A page's cursor is that key of its last entry, so each module can resume exactly after it.
 */

/** The audit event an entry corresponds to, if any: found by resource and action, the one nearest in time. */
export interface TimelineAuditRef {
  action: string;
  resourceType: string;
  resourceId: string;
}

export interface TimelineEntry {
  at: Date;
  /** Dotted, lower case (`consent.granted`); one kind comes from one query of one module. */
  kind: string;
  /** The row's own key within its kind (an auto-increment id): the last tie-breaker. */
  id: string;
  partner?: string;
  referralId?: string;
  /** Codes, statuses, amounts and field names only: never a name, national id or phone. */
  summary: string;
  audit?: TimelineAuditRef;
}

export interface TimelineKey {
  at: Date;
  kind: string;
  id: string;
}

/** A module's part of a timeline: up to `limit` of its entries for the user strictly after `after`, in key order. */
export interface TimelineSource {
  entriesForUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<TimelineEntry[]>;
}

/** Numeric ids of any length compare as numbers: shorter first, then by digits. */
const compareIds = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

export function compareTimelineKeys(a: TimelineKey, b: TimelineKey): number {
  return a.at.getTime() - b.at.getTime() || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || compareIds(a.id, b.id);
}

/**
 * The SQL condition "this kind's row comes after the cursor", for a query of one kind over (`atColumn`, `idColumn`),
 * ordered by them. Kinds compare here, in code, so the SQL stays a range on (at, id) that an index can serve: rows at
 * the cursor's very millisecond are all after it for a later kind, none for an earlier one, and by id for its own.
 */
export function timelineAfter(
  atColumn: string,
  idColumn: string,
  kind: string,
  after: TimelineKey | undefined,
): { sql: string; params: unknown[] } {
  if (!after) return { sql: '1 = 1', params: [] };
  if (kind > after.kind) return { sql: `${atColumn} >= ?`, params: [after.at] };
  if (kind < after.kind) return { sql: `${atColumn} > ?`, params: [after.at] };
  return { sql: `(${atColumn} > ? OR (${atColumn} = ? AND ${idColumn} > ?))`, params: [after.at, after.at, after.id] };
}

/** Cursor text of a key (sealed by pagination.encodeCursor): `<epoch ms>~<kind>~<id>`. */
export const timelineCursorKey = (k: TimelineKey) => `${k.at.getTime()}~${k.kind}~${k.id}`;

export const TIMELINE_CURSOR_KEY = /^\d{1,15}~[a-z_]+(?:\.[a-z_]+)*~\d{1,20}$/;

export function parseTimelineCursorKey(text: string): TimelineKey {
  const [at, kind, id] = text.split('~');
  return { at: new Date(Number(at)), kind, id };
}
