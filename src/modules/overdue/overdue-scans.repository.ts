import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { UserIdRange, userIdRangeSql } from '../offers/offers.repository';
import { OverdueScan, ScanCounts, ScanStatus } from './overdue-scan';

interface ScanRow {
  id: string;
  as_of: string;
  status: ScanStatus;
  chunk_size: number;
  chunk_count: number | null;
  chunks_done: number;
  total_cardholders: string | null;
  failure_reason: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const toScan = (r: ScanRow): OverdueScan => ({
  id: String(r.id),
  asOf: r.as_of,
  status: r.status,
  chunkSize: Number(r.chunk_size),
  chunkCount: r.chunk_count === null ? null : Number(r.chunk_count),
  chunksDone: Number(r.chunks_done),
  totalCardholders: r.total_cardholders === null ? null : Number(r.total_cardholders),
  failureReason: r.failure_reason,
  createdAt: new Date(r.created_at),
  startedAt: r.started_at ? new Date(r.started_at) : null,
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
});

const SELECT_SCAN = `
  SELECT id, DATE_FORMAT(as_of, '%Y-%m-%d') AS as_of, status, chunk_size, chunk_count, chunks_done, total_cardholders,
         failure_reason, created_at, started_at, finished_at
    FROM overdue_scans`;

const ER_DUP_ENTRY = 1062;
const isDuplicate = (e: unknown) => {
  const err = e as { errno?: number; driverError?: { errno?: number } };
  return err?.errno === ER_DUP_ENTRY || err?.driverError?.errno === ER_DUP_ENTRY;
};

/** The SQL of overdue scans and their chunks (the chunks' work itself: OverdueChunkRepository). */
@Injectable()
export class OverdueScansRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * A QUEUED scan, or undefined when another scan is active (the unique active_key refuses a second one). A
   * duplicate-key error ends only the statement, so the caller's transaction stays usable.
   */
  async insertScan(m: EntityManager, scan: { asOf: string; chunkSize: number; requestedBy: string }): Promise<string | undefined> {
    try {
      const result: { insertId: number | string } = await m.query(
        'INSERT INTO overdue_scans (as_of, chunk_size, requested_by) VALUES (?, ?, ?)',
        [scan.asOf, scan.chunkSize, scan.requestedBy.slice(0, 128)],
      );
      return String(result.insertId);
    } catch (error) {
      if (isDuplicate(error)) return undefined;
      throw error;
    }
  }

  /** The business date of the latest COMPLETED scan, if any. */
  async latestCompletedAsOf(m: EntityManager = this.dataSource.manager): Promise<string | undefined> {
    const [row]: { as_of: string | null }[] = await m.query(
      `SELECT DATE_FORMAT(MAX(as_of), '%Y-%m-%d') AS as_of FROM overdue_scans WHERE status = 'COMPLETED'`,
    );
    return row?.as_of ?? undefined;
  }

  /** The active (QUEUED or RUNNING) scan, if any. */
  async activeScan(m: EntityManager = this.dataSource.manager): Promise<OverdueScan | undefined> {
    const rows: ScanRow[] = await m.query(`${SELECT_SCAN} WHERE active_key = 1`);
    return rows.length ? toScan(rows[0]) : undefined;
  }

  async findScan(id: string, m: EntityManager = this.dataSource.manager): Promise<OverdueScan | undefined> {
    const rows: ScanRow[] = await m.query(`${SELECT_SCAN} WHERE id = ?`, [id]);
    return rows.length ? toScan(rows[0]) : undefined;
  }

  async lockScan(m: EntityManager, id: string): Promise<OverdueScan | undefined> {
    const rows: ScanRow[] = await m.query(`${SELECT_SCAN} WHERE id = ? FOR UPDATE`, [id]);
    return rows.length ? toScan(rows[0]) : undefined;
  }

  /**
   * The last user_id of the chunk after `after` (a keyset walk over idx_cardholders_user_scan), or undefined when fewer
   * than `chunkSize` cardholder rows remain. A user's rows (one per partner) always fall in one chunk.
   */
  async nextBoundary(after: string | null, chunkSize: number): Promise<string | undefined> {
    const from = userIdRangeSql('user_id', { after, upto: null });
    const rows: { user_id: string }[] = await this.dataSource.query(
      `SELECT user_id FROM cardholders WHERE ${from.sql} ORDER BY user_id LIMIT ?, 1`,
      [...from.params, chunkSize - 1],
    );
    return rows[0]?.user_id;
  }

  async countCardholders(m: EntityManager = this.dataSource.manager, range: UserIdRange = { after: null, upto: null }): Promise<number> {
    const where = userIdRangeSql('user_id', range);
    const [row]: { n: string }[] = await m.query(`SELECT COUNT(*) AS n FROM cardholders WHERE ${where.sql}`, where.params);
    return Number(row.n);
  }

  async chunkCount(m: EntityManager, scanId: string): Promise<number> {
    const [row]: { n: string }[] = await m.query('SELECT COUNT(*) AS n FROM overdue_scan_chunks WHERE scan_id = ?', [scanId]);
    return Number(row.n);
  }

  /** Writes the plan: the chunks, chunk_count and total, QUEUED → RUNNING (the caller holds the scan's lock). */
  async insertPlan(m: EntityManager, scanId: string, ranges: UserIdRange[], totalCardholders: number): Promise<void> {
    await m.query('INSERT INTO overdue_scan_chunks (scan_id, chunk_no, user_id_after, user_id_upto) VALUES ?', [
      ranges.map((r, i) => [scanId, i, r.after, r.upto]),
    ]);
    await m.query(
      `UPDATE overdue_scans SET status = 'RUNNING', started_at = NOW(3), chunk_count = ?, total_cardholders = ?
        WHERE id = ? AND status = 'QUEUED'`,
      [ranges.length, totalCardholders, scanId],
    );
  }

  async lockChunk(m: EntityManager, scanId: string, chunkNo: number): Promise<{ done: boolean; range: UserIdRange } | undefined> {
    const rows: { status: string; user_id_after: string | null; user_id_upto: string | null }[] = await m.query(
      'SELECT status, user_id_after, user_id_upto FROM overdue_scan_chunks WHERE scan_id = ? AND chunk_no = ? FOR UPDATE',
      [scanId, chunkNo],
    );
    if (!rows.length) return undefined;
    return { done: rows[0].status === 'DONE', range: { after: rows[0].user_id_after, upto: rows[0].user_id_upto } };
  }

  /** Writes the chunk's counts with its DONE mark (the caller holds the chunk's lock, in the chunk's transaction). */
  async completeChunk(m: EntityManager, scanId: string, chunkNo: number, c: ScanCounts): Promise<void> {
    await m.query(
      `UPDATE overdue_scan_chunks
          SET status = 'DONE', cardholders = ?, notices_sent = ?, notices_cancelled = ?, reported = ?, updated = ?, cured = ?,
              suppressed = ?, finished_at = NOW(3)
        WHERE scan_id = ? AND chunk_no = ? AND status = 'PENDING'`,
      [c.cardholders, c.noticesSent, c.noticesCancelled, c.reported, c.updated, c.cured, c.suppressed, scanId, chunkNo],
    );
  }

  /**
   * One more chunk done; the scan COMPLETED (and no longer active) when it was the last. Under the scan row's lock,
   * so of two chunks finishing together exactly one completes it. Run last in the chunk transaction.
   */
  async countChunkDone(m: EntityManager, scanId: string): Promise<boolean> {
    await m.query('UPDATE overdue_scans SET chunks_done = chunks_done + 1 WHERE id = ?', [scanId]);
    const result: { affectedRows: number } = await m.query(
      `UPDATE overdue_scans SET status = 'COMPLETED', active_key = NULL, finished_at = NOW(3)
        WHERE id = ? AND status = 'RUNNING' AND chunks_done >= chunk_count`,
      [scanId],
    );
    return result.affectedRows === 1;
  }

  /** QUEUED or RUNNING → FAILED (no longer active); false when the scan had already ended. */
  async markFailed(scanId: string, reason: string): Promise<boolean> {
    const result: { affectedRows: number } = await this.dataSource.query(
      `UPDATE overdue_scans SET status = 'FAILED', active_key = NULL, failure_reason = ?, finished_at = NOW(3)
        WHERE id = ? AND status IN ('QUEUED', 'RUNNING')`,
      [reason.slice(0, 500), scanId],
    );
    return result.affectedRows === 1;
  }

  /** Sums over the scan's DONE chunks: readable at any time, exact once the scan is COMPLETED. */
  async totals(scanId: string, m: EntityManager = this.dataSource.manager): Promise<ScanCounts> {
    const [row]: Record<string, string>[] = await m.query(
      `SELECT COALESCE(SUM(cardholders), 0) AS cardholders, COALESCE(SUM(notices_sent), 0) AS notices_sent,
              COALESCE(SUM(notices_cancelled), 0) AS notices_cancelled, COALESCE(SUM(reported), 0) AS reported,
              COALESCE(SUM(updated), 0) AS updated, COALESCE(SUM(cured), 0) AS cured, COALESCE(SUM(suppressed), 0) AS suppressed
         FROM overdue_scan_chunks WHERE scan_id = ? AND status = 'DONE'`,
      [scanId],
    );
    return {
      cardholders: Number(row.cardholders),
      noticesSent: Number(row.notices_sent),
      noticesCancelled: Number(row.notices_cancelled),
      reported: Number(row.reported),
      updated: Number(row.updated),
      cured: Number(row.cured),
      suppressed: Number(row.suppressed),
    };
  }
}
