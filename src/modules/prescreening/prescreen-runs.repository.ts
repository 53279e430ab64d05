import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { SqlFragment } from './criteria';
import { UserIdRange, userIdRangeSql } from '../offers/offers.repository';
import { PrescreenRun, PrescreenRunStatus, RunTotals } from './prescreen-run';

interface RunRow {
  id: string;
  product_id: string;
  product_code: string;
  product_version: number;
  status: PrescreenRunStatus;
  chunk_size: number;
  chunk_count: number | null;
  chunks_done: number;
  total_users: string | null;
  failure_reason: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const toRun = (r: RunRow): PrescreenRun => ({
  id: String(r.id),
  productId: String(r.product_id),
  productCode: r.product_code,
  productVersion: Number(r.product_version),
  status: r.status,
  chunkSize: Number(r.chunk_size),
  chunkCount: r.chunk_count === null ? null : Number(r.chunk_count),
  chunksDone: Number(r.chunks_done),
  totalUsers: r.total_users === null ? null : Number(r.total_users),
  failureReason: r.failure_reason,
  createdAt: new Date(r.created_at),
  startedAt: r.started_at ? new Date(r.started_at) : null,
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
});

export interface ChunkCounts {
  evaluated: number;
  eligible: number;
  offersCreated: number;
  /** Users per reason code (codes with no users may be left out). */
  reasons: Map<string, number>;
}

/** The columns credit_record_snapshots shares with credit_records (migration 1763800500000). */
const SNAPSHOT_COLUMNS = [
  'user_id',
  'record_version',
  'as_of',
  'identity_enc',
  'national_id_hash',
  'phone_hash',
  'kyc_level',
  'score',
  'risk_grade',
  'credit_limit',
  'balance',
  'account_opened_at',
  'on_time_count_24m',
  'overdue_count_24m',
  'max_dpd_24m',
  'current_dpd',
  'overdue_amount',
  'orders_12m',
  'gmv_12m',
  'return_rate_12m',
  'avg_review_score',
  'address_stable_12m',
  'accounts_on_device',
  'top_categories',
  'current_dpd_as_of',
].join(', ');

/** The connection-local table a chunk evaluates its range into (PrescreenRunsRepository.evaluateRange). */
const EVALUATION_TABLE = 'prescreen_chunk_evaluation';

/** A chunk's range evaluated once into EVALUATION_TABLE (alias `e`), read by the chunk's later statements. */
export interface ChunkEvaluation {
  /** `r0`, `r1`, …: one 0/1 column per reason, in `reasons` order. */
  columns: string[];
  reasons: string[];
  /** True for an eligible row of `e` (every reason column 0). */
  eligibleSql: string;
  /** For SQL over `credit_records cr`: in the range and evaluated eligible at the row's current record_version. */
  eligibleRecords: SqlFragment;
}

const SELECT_RUN = `
  SELECT r.id, r.product_id, p.code AS product_code, r.product_version, r.status, r.chunk_size, r.chunk_count,
         r.chunks_done, r.total_users, r.failure_reason, r.created_at, r.started_at, r.finished_at
    FROM prescreen_runs r JOIN card_products p ON p.id = r.product_id`;

/** The SQL of pre-screen runs, their chunks, and the chunk's set-based evaluation over credit_records. */
@Injectable()
export class PrescreenRunsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insertRun(m: EntityManager, run: { productId: string; productVersion: number; chunkSize: number; requestedBy: string }): Promise<string> {
    const result: { insertId: number | string } = await m.query(
      'INSERT INTO prescreen_runs (product_id, product_version, chunk_size, requested_by) VALUES (?, ?, ?, ?)',
      [run.productId, run.productVersion, run.chunkSize, run.requestedBy],
    );
    return String(result.insertId);
  }

  async findRun(id: string, m: EntityManager = this.dataSource.manager): Promise<PrescreenRun | undefined> {
    const rows: RunRow[] = await m.query(`${SELECT_RUN} WHERE r.id = ?`, [id]);
    return rows.length ? toRun(rows[0]) : undefined;
  }

  /** Locks the run row (alone: the product row is only read) and returns the run. */
  async lockRun(m: EntityManager, id: string): Promise<PrescreenRun | undefined> {
    const locked: unknown[] = await m.query('SELECT id FROM prescreen_runs WHERE id = ? FOR UPDATE', [id]);
    return locked.length ? this.findRun(id, m) : undefined;
  }

  /**
   * The last user_id of the next chunk after `after` (a keyset walk over the primary key: each step reads
   * `chunkSize` index entries, so planning is one pass over the index whatever the table size), or undefined when
   * fewer than `chunkSize` users remain.
   */
  async nextBoundary(m: EntityManager, after: string | null, chunkSize: number): Promise<string | undefined> {
    const from = userIdRangeSql('user_id', { after, upto: null });
    const rows: { user_id: string }[] = await m.query(
      `SELECT user_id FROM credit_records WHERE ${from.sql} ORDER BY user_id LIMIT ?, 1`,
      [...from.params, chunkSize - 1],
    );
    return rows[0]?.user_id;
  }

  async countUsers(m: EntityManager, range: UserIdRange): Promise<number> {
    const where = userIdRangeSql('user_id', range);
    const [row]: { n: string }[] = await m.query(`SELECT COUNT(*) AS n FROM credit_records WHERE ${where.sql}`, where.params);
    return Number(row.n);
  }

  async insertChunks(m: EntityManager, runId: string, ranges: UserIdRange[]): Promise<void> {
    await m.query('INSERT INTO prescreen_chunks (run_id, chunk_no, user_id_after, user_id_upto) VALUES ?', [
      ranges.map((r, i) => [runId, i, r.after, r.upto]),
    ]);
  }

  /** QUEUED → RUNNING with the plan's size; false when the run was not QUEUED (planned already, or failed). */
  async markPlanned(m: EntityManager, runId: string, chunkCount: number, totalUsers: number): Promise<boolean> {
    const result: { affectedRows: number } = await m.query(
      `UPDATE prescreen_runs SET status = 'RUNNING', chunk_count = ?, total_users = ?, started_at = NOW(3)
        WHERE id = ? AND status = 'QUEUED'`,
      [chunkCount, totalUsers, runId],
    );
    return result.affectedRows === 1;
  }

  async lockChunk(m: EntityManager, runId: string, chunkNo: number): Promise<{ done: boolean; range: UserIdRange } | undefined> {
    const rows: { status: string; user_id_after: string | null; user_id_upto: string | null }[] = await m.query(
      'SELECT status, user_id_after, user_id_upto FROM prescreen_chunks WHERE run_id = ? AND chunk_no = ? FOR UPDATE',
      [runId, chunkNo],
    );
    if (!rows.length) return undefined;
    return { done: rows[0].status === 'DONE', range: { after: rows[0].user_id_after, upto: rows[0].user_id_upto } };
  }

  /**
   * Evaluates the range ONCE: every user's 0/1 column per reason (`compileCriteria(...).reasons`), and their
   * record_version, into the connection's temporary table EVALUATION_TABLE (dropped first, so a retried or earlier
   * failed chunk on the same pooled connection starts clean). The snapshot copy, the offers and the counts then
   * read that table instead of re-running the rules and the exclusion probes over the range three times.
   * InnoDB: a temporary table is not redo-logged, and unlike MEMORY has no size cap that the open-ended last chunk
   * could exceed. Returns the fragments the other chunk steps use.
   */
  async evaluateRange(m: EntityManager, reasons: Array<SqlFragment & { reason: string }>, range: UserIdRange): Promise<ChunkEvaluation> {
    const inRange = userIdRangeSql('cr.user_id', range);
    const columns = reasons.map((_, i) => `r${i}`);
    await m.query(`DROP TEMPORARY TABLE IF EXISTS ${EVALUATION_TABLE}`);
    await m.query(
      `CREATE TEMPORARY TABLE ${EVALUATION_TABLE} (
         user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         record_version INT UNSIGNED NOT NULL,${columns.map((c) => `\n         ${c} TINYINT UNSIGNED NOT NULL,`).join('')}
         PRIMARY KEY (user_id)
       ) ENGINE=InnoDB`,
    );
    await m.query(
      `INSERT INTO ${EVALUATION_TABLE} (user_id, record_version${columns.map((c) => `, ${c}`).join('')})
       SELECT cr.user_id, cr.record_version${reasons.map((r) => `, ${r.sql}`).join('')}
         FROM credit_records cr WHERE ${inRange.sql}`,
      [...reasons.flatMap((r) => r.params), ...inRange.params],
    );
    const eligible = columns.length ? `(${columns.map((c) => `e.${c}`).join(' + ')}) = 0` : '1 = 1';
    return {
      columns,
      reasons: reasons.map((r) => r.reason),
      eligibleSql: eligible,
      // For SQL over `credit_records cr` (OffersRepository.createForEligible): the range, and evaluated eligible at
      // that very record version (a record re-ingested since the evaluation is left for the next run).
      eligibleRecords: {
        sql: `${inRange.sql} AND EXISTS (SELECT 1 FROM ${EVALUATION_TABLE} e WHERE e.user_id = cr.user_id AND e.record_version = cr.record_version AND ${eligible})`,
        params: inRange.params,
      },
    };
  }

  /**
   * Copies the evaluated version of every eligible user's credit record who has no live offer for the product
   * into credit_record_snapshots, unless that (user_id, record_version) is there already. Driven by the evaluation
   * table (STRAIGHT_JOIN: primary-key lookups into credit_records, in user_id order). The no-op ON DUPLICATE KEY
   * clause covers a concurrent run of another product copying the same version, without IGNORE's habit of hiding
   * other errors.
   */
  async copySnapshots(m: EntityManager, productId: string, evaluation: ChunkEvaluation): Promise<void> {
    await m.query(
      `INSERT INTO credit_record_snapshots (${SNAPSHOT_COLUMNS})
       SELECT ${SNAPSHOT_COLUMNS.split(', ').map((c) => `cr.${c}`).join(', ')}
         FROM ${EVALUATION_TABLE} e
         STRAIGHT_JOIN credit_records cr ON cr.user_id = e.user_id AND cr.record_version = e.record_version
        WHERE ${evaluation.eligibleSql}
          AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.product_id = ? AND o.user_id = e.user_id AND o.live_key = 1)
          AND NOT EXISTS (SELECT 1 FROM credit_record_snapshots s WHERE s.user_id = e.user_id AND s.record_version = e.record_version)
        ORDER BY e.user_id
       ON DUPLICATE KEY UPDATE credit_record_snapshots.record_version = credit_record_snapshots.record_version`,
      [productId],
    );
  }

  /**
   * The chunk's counts from the evaluation table: users evaluated, eligible, and users per reason (each user once
   * under each of its reasons); a user is eligible when all its reason columns are 0.
   */
  async aggregate(m: EntityManager, evaluation: ChunkEvaluation): Promise<Omit<ChunkCounts, 'offersCreated'>> {
    const sums = evaluation.columns.map((c) => `COALESCE(SUM(e.${c}), 0) AS ${c}`).join(', ');
    const [row]: Record<string, string | number>[] = await m.query(
      `SELECT COUNT(*) AS evaluated, COALESCE(SUM(${evaluation.eligibleSql}), 0) AS eligible${sums ? `, ${sums}` : ''}
         FROM ${EVALUATION_TABLE} e`,
    );
    const byReason = new Map<string, number>();
    evaluation.columns.forEach((c, i) => {
      const n = Number(row[c]);
      if (n > 0) byReason.set(evaluation.reasons[i], n);
    });
    return { evaluated: Number(row.evaluated), eligible: Number(row.eligible), reasons: byReason };
  }

  /** Drops the evaluation table (a temporary table: never an implicit commit). */
  async dropEvaluation(m: EntityManager): Promise<void> {
    await m.query(`DROP TEMPORARY TABLE IF EXISTS ${EVALUATION_TABLE}`);
  }

  /** Writes the chunk's counts and reasons and marks it DONE (the caller holds the chunk's lock). */
  async completeChunk(m: EntityManager, runId: string, chunkNo: number, counts: ChunkCounts): Promise<void> {
    await m.query(
      `UPDATE prescreen_chunks SET status = 'DONE', evaluated = ?, eligible = ?, ineligible = ?, offers_created = ?, finished_at = NOW(3)
        WHERE run_id = ? AND chunk_no = ? AND status = 'PENDING'`,
      [counts.evaluated, counts.eligible, counts.evaluated - counts.eligible, counts.offersCreated, runId, chunkNo],
    );
    if (counts.reasons.size) {
      await m.query('INSERT INTO prescreen_chunk_reasons (run_id, chunk_no, reason, users) VALUES ?', [
        [...counts.reasons].map(([reason, users]) => [runId, chunkNo, reason, users]),
      ]);
    }
  }

  /**
   * Counts one more chunk done and completes the run when it was the last. The counter is updated under the run
   * row's lock, so of two chunks finishing together exactly one sees the final count. Run this last in the chunk
   * transaction: the lock is then held only until commit. Returns whether this chunk completed the run.
   */
  async countChunkDone(m: EntityManager, runId: string): Promise<boolean> {
    await m.query('UPDATE prescreen_runs SET chunks_done = chunks_done + 1 WHERE id = ?', [runId]);
    const result: { affectedRows: number } = await m.query(
      `UPDATE prescreen_runs SET status = 'COMPLETED', finished_at = NOW(3)
        WHERE id = ? AND status = 'RUNNING' AND chunks_done >= chunk_count`,
      [runId],
    );
    return result.affectedRows === 1;
  }

  /** QUEUED or RUNNING → FAILED with a reason an operator can read; false when the run had already ended. */
  async markFailed(runId: string, reason: string): Promise<boolean> {
    const result: { affectedRows: number } = await this.dataSource.query(
      `UPDATE prescreen_runs SET status = 'FAILED', failure_reason = ?, finished_at = NOW(3)
        WHERE id = ? AND status IN ('QUEUED', 'RUNNING')`,
      [reason.slice(0, 500), runId],
    );
    return result.affectedRows === 1;
  }

  /** Sums over the run's DONE chunks: readable at any time, exact once the run is COMPLETED. */
  async totals(runId: string, m: EntityManager = this.dataSource.manager): Promise<RunTotals> {
    const [row]: Record<string, string>[] = await m.query(
      `SELECT COALESCE(SUM(evaluated), 0) AS evaluated, COALESCE(SUM(eligible), 0) AS eligible,
              COALESCE(SUM(ineligible), 0) AS ineligible, COALESCE(SUM(offers_created), 0) AS offers_created
         FROM prescreen_chunks WHERE run_id = ? AND status = 'DONE'`,
      [runId],
    );
    return {
      evaluated: Number(row.evaluated),
      eligible: Number(row.eligible),
      ineligible: Number(row.ineligible),
      offersCreated: Number(row.offers_created),
    };
  }

  async reasonTotals(runId: string): Promise<Map<string, number>> {
    const rows: { reason: string; users: string }[] = await this.dataSource.query(
      'SELECT reason, SUM(users) AS users FROM prescreen_chunk_reasons WHERE run_id = ? GROUP BY reason',
      [runId],
    );
    return new Map(rows.map((r) => [r.reason, Number(r.users)]));
  }
}
