import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { OfferCandidates, UserIdRange, userIdRangeSql } from '../offers/offers.repository';
import { MarkedReasons } from './criteria';
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

/** The connection-local table a chunk evaluates its range into (PrescreenRunsRepository.evaluateRange). */
const EVALUATION_TABLE = 'prescreen_chunk_evaluation';

/** Users marked per UPDATE statement (keeps the statement well under max_allowed_packet whatever the chunk size). */
const MARK_BATCH = 5_000;

/**
 * Bytes the in-memory evaluation table may hold (max_heap_table_size, fixed when it is created): ~340 bytes a user
 * with its key, so a maximum-size (50,000-user) chunk needs ~17 MiB. A larger range (the open-ended last chunk, if
 * many users were ingested during the run) fills it, and the chunk then evaluates into an InnoDB table instead.
 */
export const EVALUATION_MEMORY_BYTES = 48 * 1024 * 1024;
const ER_RECORD_FILE_FULL = 1114;

function isTableFull(error: unknown): boolean {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === ER_RECORD_FILE_FULL || e?.driverError?.errno === ER_RECORD_FILE_FULL;
}

/** A chunk's range evaluated once into EVALUATION_TABLE (alias `e`), read by the chunk's later statements. */
export interface ChunkEvaluation {
  /** MEMORY, or InnoDB when the range did not fit in memory. */
  engine: 'MEMORY' | 'InnoDB';
  /** `r0`, `r1`, …: one 0/1 column per reason, in `reasons` order. */
  columns: string[];
  reasons: string[];
  /** True for an eligible row of `e` (every reason column 0). */
  eligibleSql: string;
  /**
   * For OffersRepository.createForEligible: the evaluated users' current records (`cr`), driven from the evaluation
   * table in user_id order, eligible and still at the evaluated record_version.
   */
  eligibleRecords: OfferCandidates;
}

const SELECT_RUN = `
  SELECT r.id, r.product_id, p.code AS product_code, r.product_version, r.status, r.chunk_size, r.chunk_count,
         r.chunks_done, r.total_users, r.failure_reason, r.created_at, r.started_at, r.finished_at
    FROM prescreen_runs r JOIN card_products p ON p.id = r.product_id`;

/** The SQL of pre-screen runs, their chunks, and the chunk's set-based evaluation over credit_records. */
@Injectable()
export class PrescreenRunsRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insertRun(
    m: EntityManager,
    run: { productId: string; productVersion: number; chunkSize: number; requestedBy: string },
  ): Promise<string> {
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
   * fewer than `chunkSize` users remain. A plain read outside any transaction (PrescreenExecution.plan).
   */
  async nextBoundary(after: string | null, chunkSize: number): Promise<string | undefined> {
    const from = userIdRangeSql('user_id', { after, upto: null });
    const rows: { user_id: string }[] = await this.dataSource.query(
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

  /** The run's highest-numbered chunk planned so far (its upper bound is where planning continues), if any. */
  async lastChunk(
    runId: string,
    m: EntityManager = this.dataSource.manager,
  ): Promise<{ chunkNo: number; upto: string | null } | undefined> {
    const rows: { chunk_no: number; user_id_upto: string | null }[] = await m.query(
      'SELECT chunk_no, user_id_upto FROM prescreen_chunks WHERE run_id = ? ORDER BY chunk_no DESC LIMIT 1',
      [runId],
    );
    return rows.length ? { chunkNo: Number(rows[0].chunk_no), upto: rows[0].user_id_upto } : undefined;
  }

  /** Chunks `firstChunkNo`, `firstChunkNo + 1`, … for the ranges, in order. */
  async insertChunks(m: EntityManager, runId: string, firstChunkNo: number, ranges: UserIdRange[]): Promise<void> {
    await m.query('INSERT INTO prescreen_chunks (run_id, chunk_no, user_id_after, user_id_upto) VALUES ?', [
      ranges.map((r, i) => [runId, firstChunkNo + i, r.after, r.upto]),
    ]);
  }

  /** QUEUED → RUNNING when planning commits its first chunks. */
  async markRunning(m: EntityManager, runId: string): Promise<void> {
    await m.query(`UPDATE prescreen_runs SET status = 'RUNNING', started_at = NOW(3) WHERE id = ? AND status = 'QUEUED'`, [runId]);
  }

  /**
   * The plan's size, once its last chunk is written: until then chunk_count is NULL and no chunk can complete the
   * run (countChunkDone). False when the run was planned already or has ended.
   */
  async markPlanned(m: EntityManager, runId: string, chunkCount: number, totalUsers: number): Promise<boolean> {
    const result: { affectedRows: number } = await m.query(
      `UPDATE prescreen_runs SET chunk_count = ?, total_users = ?
        WHERE id = ? AND status = 'RUNNING' AND chunk_count IS NULL`,
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
   * Evaluates the range ONCE: every user's 0/1 column per reason, and their record_version, into the connection's
   * temporary table EVALUATION_TABLE (dropped first, so a retried or earlier failed chunk on the same pooled
   * connection starts clean). The offers and the counts then read that table instead of
   * re-running the rules and the exclusions over the range twice.
   * The rules and the exclusions read off the record row are computed by one INSERT … SELECT over the range; the
   * exclusions kept in tables (opt-outs, relationships, delinquencies) are then read from those tables alone, for
   * the range, and marked (compileExcludedUsers), so they cost in proportion to the range's exclusion rows rather
   * than one correlated probe per user and exclusion (those probes were half of the evaluation). The excluded users
   * are read by a plain SELECT — a consistent, non-locking read under READ COMMITTED, like the probes inside the
   * INSERT … SELECT were — and marked by primary key. Not `UPDATE … WHERE user_id IN (SELECT …)`: MariaDB 10.11
   * cannot turn the IN of a single-table UPDATE into a semi-join, so it runs it as a dependent subquery, one probe
   * per evaluated user again (ANALYZE: r_loops = users); and not a multi-table UPDATE … JOIN, whose reads of the
   * exclusion tables would take shared locks on the users' preference and relationship rows.
   * The table is MEMORY (B-tree key, so the later joins read it in user_id order): filling it costs about half of
   * filling an InnoDB temporary table, and the offers and the counts read it faster too. MEMORY
   * has a size cap, fixed when the table is created (`memoryBytes`, EVALUATION_MEMORY_BYTES); a range that does not
   * fit (the open-ended last chunk could hold many users ingested during the run) is evaluated again into an InnoDB
   * temporary table, which has no cap. Neither is redo-logged. Returns the fragments the other chunk steps use.
   */
  async evaluateRange(
    m: EntityManager,
    reasons: MarkedReasons,
    range: UserIdRange,
    memoryBytes = EVALUATION_MEMORY_BYTES,
  ): Promise<ChunkEvaluation> {
    const inRange = userIdRangeSql('cr.user_id', range);
    const columns = reasons.row.map((_, i) => `r${i}`);
    const create = (engine: 'MEMORY' | 'InnoDB') =>
      `CREATE TEMPORARY TABLE ${EVALUATION_TABLE} (
         user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
         record_version INT UNSIGNED NOT NULL,${columns.map((c) => `\n         ${c} TINYINT UNSIGNED NOT NULL,`).join('')}
         PRIMARY KEY (user_id) USING BTREE
       ) ENGINE=${engine}`;
    const fill: [string, unknown[]] = [
      `INSERT INTO ${EVALUATION_TABLE} (user_id, record_version${columns.map((c) => `, ${c}`).join('')})
       SELECT cr.user_id, cr.record_version${reasons.row.map((r) => `, ${r.sql}`).join('')}
         FROM credit_records cr WHERE ${inRange.sql}`,
      [...reasons.row.flatMap((r) => r.params), ...inRange.params],
    ];
    await m.query(`DROP TEMPORARY TABLE IF EXISTS ${EVALUATION_TABLE}`);
    // SET STATEMENT: the size applies to this table only, not to the pooled connection's later work.
    await m.query(`SET STATEMENT max_heap_table_size = ${Math.max(16_384, Math.floor(memoryBytes))} FOR ${create('MEMORY')}`);
    let engine: ChunkEvaluation['engine'] = 'MEMORY';
    try {
      await m.query(...fill);
    } catch (error) {
      if (!isTableFull(error)) throw error;
      // Only the temporary table was written (MEMORY: not transactional, so dropped whole); the range starts over.
      engine = 'InnoDB';
      await m.query(`DROP TEMPORARY TABLE ${EVALUATION_TABLE}`);
      await m.query(create(engine));
      await m.query(...fill);
    }
    if (reasons.marks.length) {
      // One plain SELECT (a consistent, non-locking read under READ COMMITTED) of every excluded user of the range,
      // tagged with the mark it belongs to; then each mark's users get their reason column set to 1.
      const sets = reasons.marks.map((mark, i) => {
        const users = mark.users((column) => userIdRangeSql(column, range));
        return { sql: `SELECT ${i} AS mark, u.user_id FROM (${users.sql}) u`, params: users.params };
      });
      const rows: Array<{ mark: number; user_id: string }> = await m.query(
        sets.map((q) => `(${q.sql})`).join(' UNION ALL '),
        sets.flatMap((q) => q.params),
      );
      const byMark = reasons.marks.map(() => new Set<string>());
      for (const row of rows) byMark[Number(row.mark)].add(row.user_id);
      for (const [i, users] of byMark.entries()) {
        const ids = [...users];
        for (let at = 0; at < ids.length; at += MARK_BATCH) {
          await m.query(`UPDATE ${EVALUATION_TABLE} SET ${columns[reasons.marks[i].reasonIndex]} = 1 WHERE user_id IN (?)`, [
            ids.slice(at, at + MARK_BATCH),
          ]);
        }
      }
    }
    const eligible = columns.length ? `(${columns.map((c) => `e.${c}`).join(' + ')}) = 0` : '1 = 1';
    // The chunk's range over `e.user_id` (true of every row): with FORCE INDEX it makes the MEMORY table's B-tree an
    // ordered range scan, so `ORDER BY e.user_id` needs no filesort (a MEMORY table is not read in key order otherwise).
    const inOrder = userIdRangeSql('e.user_id', range);
    return {
      engine,
      columns,
      reasons: reasons.row.map((r) => r.reason),
      eligibleSql: eligible,
      // Evaluated eligible, and at that very record version still (a record re-ingested since the evaluation is left
      // for the next run). STRAIGHT_JOIN: the evaluation table drives, primary-key lookups into credit_records.
      eligibleRecords: {
        from: `${EVALUATION_TABLE} e FORCE INDEX (PRIMARY) STRAIGHT_JOIN credit_records cr ON cr.user_id = e.user_id AND cr.record_version = e.record_version`,
        where: { sql: `${inOrder.sql} AND ${eligible}`, params: inOrder.params },
        orderBy: 'e.user_id',
      },
    };
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
