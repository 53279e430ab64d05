import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

export interface StoredIdempotencyKey {
  requestHash: string;
  /**
   * IN_FLIGHT: claimed, no effect committed yet; COMMITTED: the effect committed, the answer not stored yet;
   * COMPLETED: the answer is stored; ANSWER_NOT_KEPT: the effect committed and its answer will never be stored.
   */
  state: 'IN_FLIGHT' | 'COMMITTED' | 'COMPLETED' | 'ANSWER_NOT_KEPT';
  /** Claimed longer ago than the abandonment delay given to find. */
  old: boolean;
  responseStatus: number | null;
  responseBody: string | null;
  responseContentType: string | null;
}

const DUPLICATE_KEY = 1062; // ER_DUP_ENTRY

const isDuplicateKey = (error: unknown) => {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === DUPLICATE_KEY || e?.driverError?.errno === DUPLICATE_KEY;
};

const affected = (result: unknown): number => (result as { affectedRows?: number } | undefined)?.affectedRows ?? 0;

/**
 * The idempotency_keys table. Each statement stands alone (autocommit): a claim must be visible to concurrent
 * requests at once, not when some business transaction commits.
 */
@Injectable()
export class IdempotencyKeyRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Claims the key for this request; false when the row exists already. The primary key makes this atomic. */
  async claim(principal: string, key: string, requestHash: string, ttlHours: number): Promise<boolean> {
    try {
      await this.dataSource.query(
        `INSERT INTO idempotency_keys (principal, idempotency_key, request_hash, state, expires_at)
         VALUES (?, ?, ?, 'IN_FLIGHT', NOW(3) + INTERVAL ? HOUR)`,
        [principal, key, requestHash, ttlHours],
      );
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /**
   * Deletes the row when it no longer binds the client: expired, or left IN_FLIGHT by a process that died
   * before answering. True when a row was deleted, so the caller may claim again.
   */
  async deleteIfStale(principal: string, key: string, abandonedAfterMinutes: number): Promise<boolean> {
    const result = await this.dataSource.query(
      `DELETE FROM idempotency_keys
        WHERE principal = ? AND idempotency_key = ?
          AND (expires_at < NOW(3) OR (state = 'IN_FLIGHT' AND created_at < NOW(3) - INTERVAL ? MINUTE))`,
      [principal, key, abandonedAfterMinutes],
    );
    return affected(result) > 0;
  }

  async find(principal: string, key: string, abandonedAfterMinutes: number): Promise<StoredIdempotencyKey | undefined> {
    const rows: Array<{
      request_hash: string;
      state: StoredIdempotencyKey['state'];
      old: number | string;
      response_status: number | null;
      response_body: string | null;
      response_content_type: string | null;
    }> = await this.dataSource.query(
      `SELECT request_hash, state, created_at < NOW(3) - INTERVAL ? MINUTE AS old, response_status, response_body, response_content_type
         FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?`,
      [abandonedAfterMinutes, principal, key],
    );
    const row = rows[0];
    return row
      ? {
          requestHash: row.request_hash,
          state: row.state,
          old: Number(row.old) === 1,
          responseStatus: row.response_status === null ? null : Number(row.response_status),
          responseBody: row.response_body,
          responseContentType: row.response_content_type,
        }
      : undefined;
  }

  /**
   * In the transaction of the request's effect: the effect committed. Committed with it or not at all, so a claim
   * whose effect is in the database is never taken for abandoned and run again.
   */
  async markCommitted(m: EntityManager, principal: string, key: string): Promise<void> {
    await m.query(`UPDATE idempotency_keys SET state = 'COMMITTED' WHERE principal = ? AND idempotency_key = ? AND state = 'IN_FLIGHT'`, [
      principal,
      key,
    ]);
  }

  async complete(principal: string, key: string, status: number, body: string, contentType: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys
          SET state = 'COMPLETED', response_status = ?, response_body = ?, response_content_type = ?
        WHERE principal = ? AND idempotency_key = ? AND state IN ('IN_FLIGHT', 'COMMITTED')`,
      [status, body, contentType, principal, key],
    );
  }

  /** The answer will not be stored (too large, or a server error after the effect committed): never run the key again. */
  async markAnswerNotKept(principal: string, key: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys SET state = 'ANSWER_NOT_KEPT', response_status = NULL, response_body = NULL, response_content_type = NULL
        WHERE principal = ? AND idempotency_key = ? AND state IN ('IN_FLIGHT', 'COMMITTED')`,
      [principal, key],
    );
  }

  /**
   * Forgets an in-flight claim whose request failed on our side, so the client can retry with the same key. False
   * when the claim is not IN_FLIGHT (its effect committed): then it must not be forgotten.
   */
  async release(principal: string, key: string): Promise<boolean> {
    const result = await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ? AND state = 'IN_FLIGHT'`,
      [principal, key],
    );
    return affected(result) > 0;
  }

  /** Deletes up to `batch` expired keys; returns how many went. */
  async purgeExpired(batch: number): Promise<number> {
    const result = await this.dataSource.query('DELETE FROM idempotency_keys WHERE expires_at < NOW(3) LIMIT ?', [batch]);
    return affected(result);
  }
}
