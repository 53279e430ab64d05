import { Readable, Transform } from 'node:stream';

import { Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { BadRequestError } from '../../common/errors';
import { AuditActorType, AuditEntryInput, AuditEvent, AuditOutcome, canonicalJson } from './audit-entry';

/** Anything that runs SQL: the DataSource (autocommit) or a transaction's EntityManager. */
type Queryable = Pick<EntityManager, 'query'> | Pick<DataSource, 'query'>;

export interface InboxRow extends Omit<AuditEvent, 'seq' | 'prevHash' | 'hash'> {
  id: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

export interface CheckpointRow {
  seq: number;
  hash: string;
  kid: string;
  token: string;
  createdAt: Date;
  /** The hash of the audit event at `seq` (null when that event is missing). */
  eventHash: string | null;
}

export interface AuditSearchFilters {
  actorType?: AuditActorType;
  actorId?: string;
  partnerCode?: string;
  subjectUserHash?: string;
  action?: string;
  /** Actions starting with this text, which ends with '.' (`action=partner_api.*` → 'partner_api.'). */
  actionPrefix?: string;
  outcome?: AuditOutcome;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
}

/**
 * Rows of one search read from a database cursor. `close` must be called when the reader is done with them: after
 * the last row it returns the connection to the pool, before it (the reader went away) it stops the query.
 */
export interface AuditEventStream {
  rows: Readable;
  close(): Promise<void>;
}

export interface SeqRange {
  lo: number;
  hi: number;
}

/**
 * How long the server waits on a client that does not read (MariaDB's default is 60 s). An export's reader is an HTTP
 * client behind back-pressure, so a slow download must not make the server drop the cursor half-way.
 */
const EXPORT_NET_WRITE_TIMEOUT_SECONDS = 3600;

const ENTRY_COLUMNS = `occurred_at, actor_type, actor_id, action, resource_type, resource_id, subject_user_hash,
  partner_code, request_id, client_ip, outcome, http_status, details`;

interface EntryRowSql {
  occurred_at: Date;
  actor_type: AuditActorType;
  actor_id: string;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  subject_user_hash: string | null;
  partner_code: string | null;
  request_id: string | null;
  client_ip: string | null;
  outcome: AuditOutcome;
  http_status: number | string | null;
  details: string | null;
}

const toEntry = (r: EntryRowSql): Omit<AuditEvent, 'seq' | 'prevHash' | 'hash'> => ({
  occurredAt: r.occurred_at,
  actorType: r.actor_type,
  actorId: r.actor_id,
  action: r.action,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  subjectUserHash: r.subject_user_hash,
  partnerCode: r.partner_code,
  requestId: r.request_id,
  clientIp: r.client_ip,
  outcome: r.outcome,
  httpStatus: r.http_status === null ? null : Number(r.http_status),
  details: r.details,
});

const toEvent = (r: EntryRowSql & { seq: string; prev_hash: string; hash: string }): AuditEvent => ({
  seq: Number(r.seq),
  ...toEntry(r),
  prevHash: r.prev_hash,
  hash: r.hash,
});

export const encodeCursor = (seq: number) => Buffer.from(`s:${seq}`).toString('base64url');

export function decodeCursor(cursor: string): number {
  const m = /^s:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadRequestError('cursor is not valid', [{ field: 'cursor', message: 'is not a cursor of this list' }]);
  return Number(m[1]);
}

/** All SQL of the audit log: inbox appends, chaining, verification reads, checkpoints and search. */
@Injectable()
export class AuditRepository {
  private readonly logger = new Logger(AuditRepository.name);

  constructor(private readonly dataSource: DataSource) {}

  /** One multi-row INSERT; the time is the database's, so every process agrees on one clock. */
  async insertInbox(entries: AuditEntryInput[], manager?: EntityManager): Promise<void> {
    if (entries.length === 0) return;
    const values = entries.map((e) => [
      e.actorType,
      e.actorId,
      e.action,
      e.resourceType ?? null,
      e.resourceId ?? null,
      e.subjectUserHash ?? null,
      e.partnerCode ?? null,
      e.requestId ?? null,
      e.clientIp ?? null,
      e.outcome,
      e.httpStatus ?? null,
      e.details === undefined ? null : canonicalJson(e.details),
    ]);
    await (manager ?? this.dataSource).query(
      `INSERT INTO audit_inbox (${ENTRY_COLUMNS}) VALUES ${values.map(() => '(NOW(3), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      values.flat(),
    );
  }

  /** The chain head, row-locked; null while another chainer holds it (SKIP LOCKED: never queue behind it). */
  async lockHead(m: EntityManager): Promise<ChainHead | null> {
    const rows: { seq: string; hash: string }[] = await m.query(
      'SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE SKIP LOCKED',
    );
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
  }

  async head(q: Queryable = this.dataSource): Promise<ChainHead> {
    const rows: { seq: string; hash: string }[] = await q.query('SELECT seq, hash FROM audit_chain_head WHERE id = 1');
    return { seq: Number(rows[0].seq), hash: rows[0].hash };
  }

  async readInbox(m: EntityManager, limit: number): Promise<InboxRow[]> {
    const rows: (EntryRowSql & { id: string })[] = await m.query(`SELECT id, ${ENTRY_COLUMNS} FROM audit_inbox ORDER BY id LIMIT ?`, [
      limit,
    ]);
    return rows.map((r) => ({ id: String(r.id), ...toEntry(r) }));
  }

  /**
   * Moves a chained batch: the events, the inbox rows they came from and the new head, in the caller's transaction.
   * Each event names its inbox row (`inbox_id`, not hashed): the inbox's DELETE trigger lets a row go only then.
   */
  async commitChained(m: EntityManager, events: AuditEvent[], inboxIds: string[]): Promise<void> {
    await m.query(
      `INSERT INTO audit_events (seq, ${ENTRY_COLUMNS}, prev_hash, hash, inbox_id) VALUES ${events
        .map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .join(', ')}`,
      events.flatMap((e, i) => [
        e.seq,
        e.occurredAt,
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
        e.hash,
        inboxIds[i],
      ]),
    );
    await m.query('DELETE FROM audit_inbox WHERE id IN (?)', [inboxIds]);
    const last = events[events.length - 1];
    await m.query('UPDATE audit_chain_head SET seq = ?, hash = ?, updated_at = NOW(3) WHERE id = 1', [last.seq, last.hash]);
  }

  /** Entries not chained yet, and the oldest one's time and age by the database clock (in the caller's snapshot). */
  async unchainedBacklog(q: Queryable): Promise<{ count: number; oldestAt: Date | null; oldestAgeMs: number | null }> {
    const [row]: { n: string; oldest: Date | null; age_us: string | null }[] = await q.query(
      'SELECT COUNT(*) AS n, MIN(occurred_at) AS oldest, TIMESTAMPDIFF(MICROSECOND, MIN(occurred_at), NOW(3)) AS age_us FROM audit_inbox',
    );
    return {
      count: Number(row.n),
      oldestAt: row.oldest ? new Date(row.oldest) : null,
      oldestAgeMs: row.age_us === null ? null : Math.max(0, Math.floor(Number(row.age_us) / 1000)),
    };
  }

  async inboxSize(): Promise<number> {
    const rows: { n: string }[] = await this.dataSource.query('SELECT COUNT(*) AS n FROM audit_inbox');
    return Number(rows[0].n);
  }

  /**
   * The chained events about one subject with one of `actions` on one of `resourceIds`, in seq order: what a
   * compliance timeline matches its entries against. Served by idx_audit_subject; `limit` bounds a user with an
   * unusually long trail (a referral fetched many times).
   */
  async subjectEventsOn(
    subjectUserHash: string,
    actions: string[],
    resourceIds: string[],
    limit: number,
  ): Promise<Array<{ seq: number; occurredAt: Date; action: string; resourceType: string | null; resourceId: string | null }>> {
    if (actions.length === 0 || resourceIds.length === 0) return [];
    const rows: Array<{ seq: string; occurred_at: Date; action: string; resource_type: string | null; resource_id: string | null }> =
      await this.dataSource.query(
        `SELECT seq, occurred_at, action, resource_type, resource_id FROM audit_events
          WHERE subject_user_hash = ? AND action IN (?) AND resource_id IN (?) ORDER BY seq LIMIT ?`,
        [subjectUserHash, actions, resourceIds, limit],
      );
    return rows.map((r) => ({
      seq: Number(r.seq),
      occurredAt: new Date(r.occurred_at),
      action: r.action,
      resourceType: r.resource_type,
      resourceId: r.resource_id,
    }));
  }

  /** Events with fromSeq <= seq <= toSeq in seq order, at most `limit`. */
  async eventsBetween(q: Queryable, fromSeq: number, toSeq: number, limit: number): Promise<AuditEvent[]> {
    const rows = await q.query(
      `SELECT seq, ${ENTRY_COLUMNS}, prev_hash, hash FROM audit_events WHERE seq BETWEEN ? AND ? ORDER BY seq LIMIT ?`,
      [fromSeq, toSeq, limit],
    );
    return rows.map(toEvent);
  }

  /** The lowest seq above `seq`, if any: rows beyond the head were never written by the chainer. */
  async firstSeqAbove(q: Queryable, seq: number): Promise<number | null> {
    const rows: { s: string | null }[] = await q.query('SELECT MIN(seq) AS s FROM audit_events WHERE seq > ?', [seq]);
    return rows[0]?.s == null ? null : Number(rows[0].s);
  }

  async lastCheckpointSeq(): Promise<number | null> {
    const rows: { s: string | null }[] = await this.dataSource.query('SELECT MAX(seq) AS s FROM audit_checkpoints');
    return rows[0]?.s == null ? null : Number(rows[0].s);
  }

  /** Inserts a checkpoint; false when one for that seq already exists (a concurrent or repeated run). */
  async insertCheckpoint(c: { seq: number; hash: string; kid: string; token: string }): Promise<boolean> {
    try {
      await this.dataSource.query('INSERT INTO audit_checkpoints (seq, hash, kid, token) VALUES (?, ?, ?, ?)', [
        c.seq,
        c.hash,
        c.kid,
        c.token,
      ]);
      return true;
    } catch (error) {
      if ((error as { errno?: number }).errno === 1062) return false; // ER_DUP_ENTRY
      throw error;
    }
  }

  /** Checkpoints with afterSeq < seq <= toSeq, each with the hash of the event it names. */
  async checkpointsBetween(q: Queryable, afterSeq: number, toSeq: number, limit: number): Promise<CheckpointRow[]> {
    const rows: { seq: string; hash: string; kid: string; token: string; created_at: Date; event_hash: string | null }[] = await q.query(
      `SELECT c.seq, c.hash, c.kid, c.token, c.created_at, e.hash AS event_hash
           FROM audit_checkpoints c LEFT JOIN audit_events e ON e.seq = c.seq
          WHERE c.seq > ? AND c.seq <= ? ORDER BY c.seq LIMIT ?`,
      [afterSeq, toSeq, limit],
    );
    return rows.map((r) => ({
      seq: Number(r.seq),
      hash: r.hash,
      kid: r.kid,
      token: r.token,
      createdAt: r.created_at,
      eventHash: r.event_hash,
    }));
  }

  /**
   * The one SELECT behind search, export and their EXPLAIN test: every filter is an equality or a range on an
   * indexed column, ordered by seq (docs/AUDIT.md shows the plan of each). An action prefix is the range
   * [prefix, prefix with its final '.' raised to '/'), which the (action, seq) index serves and LIKE's escaping
   * cannot get wrong (actions contain '_'). `seqRange` is the time window's seq span (timeWindowSeqs).
   */
  searchSql(
    filters: AuditSearchFilters,
    page: { afterSeq?: number; limit?: number; seqRange?: SeqRange } = {},
  ): { sql: string; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      where.push(sql);
      params.push(...values);
    };
    if (filters.actorType) add('actor_type = ?', filters.actorType);
    if (filters.actorId) add('actor_id = ?', filters.actorId);
    if (filters.partnerCode) add('partner_code = ?', filters.partnerCode);
    if (filters.subjectUserHash) add('subject_user_hash = ?', filters.subjectUserHash);
    if (filters.action) add('action = ?', filters.action);
    if (filters.actionPrefix) add('action >= ? AND action < ?', filters.actionPrefix, `${filters.actionPrefix.slice(0, -1)}/`);
    if (filters.outcome) add('outcome = ?', filters.outcome);
    if (filters.from) add('occurred_at >= ?', filters.from);
    if (filters.to) add('occurred_at < ?', filters.to);
    if (page.seqRange) add('seq BETWEEN ? AND ?', page.seqRange.lo, page.seqRange.hi);
    if (page.afterSeq !== undefined) add('seq > ?', page.afterSeq);
    // An action prefix spans several (action, seq) runs, so that index cannot give seq order, and the optimiser, which
    // assumes matches are spread evenly, then prefers walking the primary key in order and filtering — through the
    // whole table when the prefix is rare. Taking the prefix's range and sorting only its rows is bounded by the matches.
    const hint = filters.actionPrefix && !page.seqRange ? ' IGNORE INDEX FOR ORDER BY (PRIMARY)' : '';
    let sql = `SELECT seq, ${ENTRY_COLUMNS}, prev_hash, hash FROM audit_events${hint}`;
    sql += `${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
    if (page.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(page.limit);
    }
    return { sql, params };
  }

  /** The covering-index query behind timeWindowSeqs (exported for the EXPLAIN test). */
  timeWindowSql(filters: Pick<AuditSearchFilters, 'from' | 'to'>): { sql: string; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filters.from) {
      where.push('occurred_at >= ?');
      params.push(filters.from);
    }
    if (filters.to) {
      where.push('occurred_at < ?');
      params.push(filters.to);
    }
    return { sql: `SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit_events WHERE ${where.join(' AND ')}`, params };
  }

  /**
   * The lowest and highest seq of the events in a time window, or null when it holds none. seq follows occurred_at
   * only roughly (a late commit is chained after younger entries), so the window cannot be turned into seqs by
   * guessing; this reads them from the (occurred_at, seq) index alone. The search then walks the primary key (or a
   * filter's index) over just that span in seq order, where the optimiser would otherwise walk the primary key from
   * the first seq, its estimate assuming the window is spread evenly over the whole trail.
   */
  async timeWindowSeqs(filters: Pick<AuditSearchFilters, 'from' | 'to'>, q: Queryable = this.dataSource): Promise<SeqRange | null> {
    const { sql, params } = this.timeWindowSql(filters);
    const [row]: { lo: string | null; hi: string | null }[] = await q.query(sql, params);
    return row?.lo == null || row.hi == null ? null : { lo: Number(row.lo), hi: Number(row.hi) };
  }

  /** The statement a search runs (its time window resolved to seqs first); null when the window holds no event. */
  async searchStatement(
    filters: AuditSearchFilters,
    page: { afterSeq?: number; limit?: number },
    q: Queryable = this.dataSource,
  ): Promise<{ sql: string; params: unknown[] } | null> {
    if (!filters.from && !filters.to) return this.searchSql(filters, page);
    const seqRange = await this.timeWindowSeqs(filters, q);
    return seqRange ? this.searchSql(filters, { ...page, seqRange }) : null;
  }

  /** Compliance search: every filter optional, keyset pagination on seq (stable, chain order). */
  async search(
    filters: AuditSearchFilters,
    page: { limit: number; cursor?: string },
  ): Promise<{ data: AuditEvent[]; nextCursor: string | null }> {
    const afterSeq = page.cursor ? decodeCursor(page.cursor) : undefined;
    const statement = await this.searchStatement(filters, { afterSeq, limit: page.limit + 1 });
    if (!statement) return { data: [], nextCursor: null };
    const rows = await this.dataSource.query(statement.sql, statement.params);
    const data = (rows as Parameters<typeof toEvent>[0][]).slice(0, page.limit).map(toEvent);
    return { data, nextCursor: rows.length > page.limit ? encodeCursor(data[data.length - 1].seq) : null };
  }

  /**
   * Every event of a search, read from a server-side cursor on a connection of its own: mysql2 pauses the socket when
   * `rows` is not read (back-pressure reaches the server), so memory stays constant however many rows match.
   * `close()` before the end — the reader went away — closes that connection and kills its thread: destroying the stream alone
   * would let the driver read the rest of the result to discard it, and the SELECT would run to its end.
   */
  async openSearchStream(filters: AuditSearchFilters): Promise<AuditEventStream> {
    const runner = this.dataSource.createQueryRunner();
    const connection = (await runner.connect()) as { threadId: number; destroy(): void };
    let raw: Readable;
    try {
      await runner.query('SET SESSION net_write_timeout = ?', [EXPORT_NET_WRITE_TIMEOUT_SECONDS]);
      // An empty time window reads no rows (seq BETWEEN 1 AND 0) but still answers an empty export.
      const { sql, params } = (await this.searchStatement(filters, {}, runner)) ?? this.searchSql(filters, { seqRange: { lo: 1, hi: 0 } });
      // The query's own errors reach the reader through the stream; this listener only keeps an error after an
      // abort (the connection is gone by then) from being an unhandled 'error' event.
      raw = await runner.stream(sql, params, undefined, () => undefined);
    } catch (error) {
      await runner.release();
      throw error;
    }
    const rows = new Transform({
      objectMode: true,
      transform: (row: Parameters<typeof toEvent>[0], _encoding, done) => done(null, toEvent(row)),
    });
    raw.on('error', (error) => rows.destroy(error));
    raw.pipe(rows);
    let closed = false;
    return {
      rows,
      close: async () => {
        if (closed) return;
        closed = true;
        raw.unpipe(rows);
        if (raw.readableEnded) {
          await runner.query('SET SESSION net_write_timeout = DEFAULT').catch(() => connection.destroy());
          await runner.release();
          return;
        }
        raw.destroy();
        connection.destroy(); // out of the pool: it may still be mid-result
        await runner.release();
        await this.dataSource.query(`KILL CONNECTION ${Number(connection.threadId)}`).catch((error: { errno?: number }) => {
          // 1094: the thread is already gone, as it is once the server noticed the closed socket.
          if (error.errno !== 1094) this.logger.warn(`could not kill an abandoned export query: ${String(error)}`);
        });
      },
    };
  }
}
