import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface StoredIdempotencyKey {
  requestHash: string;
  state: 'IN_FLIGHT' | 'COMPLETED';
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

  async find(principal: string, key: string): Promise<StoredIdempotencyKey | undefined> {
    const rows: Array<{
      request_hash: string;
      state: StoredIdempotencyKey['state'];
      response_status: number | null;
      response_body: string | null;
      response_content_type: string | null;
    }> = await this.dataSource.query(
      `SELECT request_hash, state, response_status, response_body, response_content_type
         FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?`,
      [principal, key],
    );
    const row = rows[0];
    return row
      ? {
          requestHash: row.request_hash,
          state: row.state,
          responseStatus: row.response_status === null ? null : Number(row.response_status),
          responseBody: row.response_body,
          responseContentType: row.response_content_type,
        }
      : undefined;
  }

  async complete(principal: string, key: string, status: number, body: string, contentType: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys
          SET state = 'COMPLETED', response_status = ?, response_body = ?, response_content_type = ?
        WHERE principal = ? AND idempotency_key = ? AND state = 'IN_FLIGHT'`,
      [status, body, contentType, principal, key],
    );
  }

  /** Forgets an in-flight claim whose request failed on our side, so the client can retry with the same key. */
  async release(principal: string, key: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM idempotency_keys WHERE principal = ? AND idempotency_key = ? AND state = 'IN_FLIGHT'`, [
      principal,
      key,
    ]);
  }

  /** Deletes up to `batch` expired keys; returns how many went. */
  async purgeExpired(batch: number): Promise<number> {
    const result = await this.dataSource.query('DELETE FROM idempotency_keys WHERE expires_at < NOW(3) LIMIT ?', [batch]);
    return affected(result);
  }
}
