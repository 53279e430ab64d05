import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { PushStatus } from './partner-event';

const ER_DUP_ENTRY = 1062;

export interface PushTarget {
  id: string;
  partnerId: string;
  partnerCode: string;
  partnerStatus: string;
  pushEndpoint: string | null;
  setJws: string;
  pushStatus: PushStatus;
  pushAttempts: number;
  /** Milliseconds since the event was made (MySQL's clock, like created_at). */
  ageMs: number;
}

export interface DeadLetterRow {
  id: string;
  event_type: string;
  txn: string;
  created_at: Date;
  push_attempts: number;
  push_last_error: string | null;
  push_last_attempt_at: Date | null;
  push_dead_at: Date | null;
  acknowledged_at: Date | null;
}

/**
 * The SQL of the partner event feed. Every query that a partner's request drives takes that partner's id, so one
 * bank can never see, acknowledge or answer another bank's events.
 */
@Injectable()
export class PartnerEventsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The partner's code and push endpoint, read in the emitting transaction. */
  async partnerForEmit(m: EntityManager, partnerId: string): Promise<{ code: string; pushEndpoint: string | null } | undefined> {
    const [row] = await m.query('SELECT code, push_endpoint FROM partners WHERE id = ?', [partnerId]);
    return row ? { code: row.code, pushEndpoint: row.push_endpoint } : undefined;
  }

  /**
   * Inserts the event with an empty SET (the SET's jti is the row id, so the row comes first); undefined when the
   * partner already has an event with this dedupe key. A duplicate-key error ends only the statement, not the
   * caller's transaction, so the no-op leaves the rest of the use case intact.
   */
  async insertPlaceholder(
    m: EntityManager,
    e: { partnerId: string; type: string; txn: string; dedupeKey: string; push: boolean },
  ): Promise<string | undefined> {
    try {
      const result: { insertId: number | string } = await m.query(
        `INSERT INTO partner_events (partner_id, event_type, txn, dedupe_key, set_jws, push_status)
         VALUES (?, ?, ?, ?, '', ?)`,
        [e.partnerId, e.type, e.txn, e.dedupeKey, e.push ? 'PENDING' : 'NONE'],
      );
      return String(result.insertId);
    } catch (error) {
      const err = error as { errno?: number; driverError?: { errno?: number } };
      if (err?.errno === ER_DUP_ENTRY || err?.driverError?.errno === ER_DUP_ENTRY) return undefined;
      throw error;
    }
  }

  /** Code and push endpoint of each partner among `partnerIds`, read in the emitting transaction (batch emit). */
  async partnersForEmit(m: EntityManager, partnerIds: string[]): Promise<Map<string, { code: string; pushEndpoint: string | null }>> {
    const rows: Array<{ id: string; code: string; push_endpoint: string | null }> = await m.query(
      'SELECT id, code, push_endpoint FROM partners WHERE id IN (?)',
      [partnerIds],
    );
    return new Map(rows.map((r) => [String(r.id), { code: r.code, pushEndpoint: r.push_endpoint }]));
  }

  /**
   * `insertPlaceholder` for many events of one partner: returns dedupe key → new row id for the events inserted; a
   * dedupe key that already has an event is left out. Keys already present are read first and the rest inserted with
   * one plain multi-row INSERT: not INSERT … ON DUPLICATE KEY UPDATE, whose duplicate check takes next-key locks on
   * the unique (partner_id, dedupe_key) index and made concurrent batches of one partner queue behind each other.
   * Should another transaction insert one of the keys in between, the INSERT fails as a whole (the statement only,
   * not the transaction) and the events are inserted one by one, each duplicate skipped as `insertPlaceholder` does.
   * Ids are read back by dedupe key rather than derived from insertId: consecutive ids are not guaranteed for a
   * multi-row INSERT under innodb_autoinc_lock_mode = 2.
   */
  async insertPlaceholders(
    m: EntityManager,
    partnerId: string,
    events: ReadonlyArray<{ type: string; txn: string; dedupeKey: string }>,
    push: boolean,
  ): Promise<Map<string, string>> {
    if (events.length === 0) return new Map();
    const keys = events.map((e) => e.dedupeKey);
    const existing: Array<{ dedupe_key: string }> = await m.query(
      'SELECT dedupe_key FROM partner_events WHERE partner_id = ? AND dedupe_key IN (?)',
      [partnerId, keys],
    );
    const taken = new Set(existing.map((r) => r.dedupe_key));
    const fresh = events.filter((e) => !taken.has(e.dedupeKey));
    if (fresh.length === 0) return new Map();
    try {
      await m.query('INSERT INTO partner_events (partner_id, event_type, txn, dedupe_key, set_jws, push_status) VALUES ?', [
        fresh.map((e) => [partnerId, e.type, e.txn, e.dedupeKey, '', push ? 'PENDING' : 'NONE']),
      ]);
    } catch (error) {
      const err = error as { errno?: number; driverError?: { errno?: number } };
      if (err?.errno !== ER_DUP_ENTRY && err?.driverError?.errno !== ER_DUP_ENTRY) throw error;
      const ids = new Map<string, string>();
      for (const e of fresh) {
        const id = await this.insertPlaceholder(m, { partnerId, ...e, push });
        if (id !== undefined) ids.set(e.dedupeKey, id);
      }
      return ids;
    }
    const rows: Array<{ id: string; dedupe_key: string }> = await m.query(
      'SELECT id, dedupe_key FROM partner_events WHERE partner_id = ? AND dedupe_key IN (?)',
      [partnerId, fresh.map((e) => e.dedupeKey)],
    );
    return new Map(rows.map((r) => [r.dedupe_key, String(r.id)]));
  }

  /** Sets the SETs of many placeholder rows in one statement. */
  async setJwsMany(m: EntityManager, rows: ReadonlyArray<{ id: string; jws: string }>): Promise<void> {
    if (rows.length === 0) return;
    await m.query(`UPDATE partner_events SET set_jws = CASE id ${rows.map(() => 'WHEN ? THEN ?').join(' ')} END WHERE id IN (?)`, [
      // BIGINT ids as numbers: a quoted id is compared as a double in every WHEN.
      ...rows.flatMap((r) => [BigInt(r.id), r.jws]),
      rows.map((r) => r.id),
    ]);
  }

  async setJws(m: EntityManager, id: string, jws: string): Promise<void> {
    await m.query('UPDATE partner_events SET set_jws = ? WHERE id = ?', [jws, id]);
  }

  /** Acknowledges the partner's own events among `ids`; others' and unknown ids change nothing. */
  async acknowledge(m: EntityManager, partnerId: string, ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await m.query(
      'UPDATE partner_events SET acknowledged_at = NOW(3) WHERE partner_id = ? AND id IN (?) AND acknowledged_at IS NULL',
      [partnerId, ids],
    );
    return Number(result.affectedRows ?? 0);
  }

  /** Records a bank's setErr on one of its own open events; an answered event is not handed out again. */
  async recordSetError(m: EntityManager, partnerId: string, id: string, error: { err: string; description?: string }): Promise<number> {
    const result = await m.query(
      `UPDATE partner_events SET set_error = ?, set_error_at = NOW(3)
        WHERE partner_id = ? AND id = ? AND acknowledged_at IS NULL AND set_error IS NULL`,
      [JSON.stringify(error), partnerId, id],
    );
    return Number(result.affectedRows ?? 0);
  }

  /** Up to `limit` open (neither acknowledged nor answered with an error) events in creation order, plus one to tell if more exist. */
  async openEvents(partnerId: string, limit: number): Promise<Array<{ id: string; set_jws: string }>> {
    return this.dataSource.query(
      `SELECT id, set_jws FROM partner_events
        WHERE partner_id = ? AND acknowledged_at IS NULL AND set_error IS NULL
        ORDER BY id LIMIT ?`,
      [partnerId, limit + 1],
    );
  }

  async hasOpenEvents(partnerId: string): Promise<boolean> {
    const rows = await this.dataSource.query(
      'SELECT 1 FROM partner_events WHERE partner_id = ? AND acknowledged_at IS NULL AND set_error IS NULL LIMIT 1',
      [partnerId],
    );
    return rows.length > 0;
  }

  async markPolled(partnerId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.dataSource.query(
      'UPDATE partner_events SET poll_count = poll_count + 1, last_polled_at = NOW(3) WHERE partner_id = ? AND id IN (?)',
      [partnerId, ids],
    );
  }

  /** The event and its partner as a push needs them, outside any transaction (the HTTP call must not hold one). */
  async pushTarget(eventId: string): Promise<PushTarget | undefined> {
    const [row] = await this.dataSource.query(
      `SELECT e.id, e.partner_id, p.code, p.status, p.push_endpoint, e.set_jws, e.push_status, e.push_attempts,
              TIMESTAMPDIFF(MICROSECOND, e.created_at, NOW(3)) DIV 1000 AS age_ms
         FROM partner_events e JOIN partners p ON p.id = e.partner_id
        WHERE e.id = ?`,
      [eventId],
    );
    if (!row) return undefined;
    return {
      id: String(row.id),
      partnerId: String(row.partner_id),
      partnerCode: row.code,
      partnerStatus: row.status,
      pushEndpoint: row.push_endpoint,
      setJws: row.set_jws,
      pushStatus: row.push_status,
      pushAttempts: Number(row.push_attempts),
      ageMs: Number(row.age_ms),
    };
  }

  /**
   * Records the outcome of attempt `attempt` if the row is still waiting for exactly that attempt: of two deliveries
   * of the same job only one records, so only one schedules the next attempt.
   */
  async recordAttempt(
    m: EntityManager,
    eventId: string,
    attempt: number,
    outcome: { status: PushStatus; error: string | null },
  ): Promise<boolean> {
    const result = await m.query(
      `UPDATE partner_events
          SET push_attempts = ?, push_status = ?, push_last_error = ?, push_last_attempt_at = NOW(3),
              pushed_at = IF(? = 'DELIVERED', NOW(3), pushed_at),
              push_dead_at = IF(? = 'DEAD', NOW(3), push_dead_at)
        WHERE id = ? AND push_status = 'PENDING' AND push_attempts = ?`,
      [attempt, outcome.status, outcome.error?.slice(0, 500) ?? null, outcome.status, outcome.status, eventId, attempt - 1],
    );
    return Number(result.affectedRows ?? 0) === 1;
  }

  /** Id and code of every partner with a push endpoint (the partners a push lane can exist for). */
  async pushingPartners(): Promise<Array<{ id: string; code: string }>> {
    const rows: Array<{ id: string; code: string }> = await this.dataSource.query(
      'SELECT id, code FROM partners WHERE push_endpoint IS NOT NULL ORDER BY id',
    );
    return rows.map((r) => ({ id: String(r.id), code: r.code }));
  }

  /** One page of a partner's dead letters in creation order, `limit + 1` rows. */
  async deadLetters(partnerId: string, afterId: string | undefined, limit: number): Promise<DeadLetterRow[]> {
    return this.dataSource.query(
      `SELECT id, event_type, txn, created_at, push_attempts, push_last_error, push_last_attempt_at, push_dead_at, acknowledged_at
         FROM partner_events
        WHERE partner_id = ? AND push_status = 'DEAD' AND id > ?
        ORDER BY id LIMIT ?`,
      [partnerId, afterId ?? '0', limit + 1],
    );
  }
}
