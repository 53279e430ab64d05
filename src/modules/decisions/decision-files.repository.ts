import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { ProblemDetails } from '../../infra/http/problem-details';
import { DecisionFileFormat } from './decision-file-lines';

export type DecisionFileStatus = 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED';

export interface DecisionFileRow {
  id: string;
  partner_id: string;
  partner_code: string;
  format: DecisionFileFormat;
  status: DecisionFileStatus;
  total_lines: number;
  processed_lines: number;
  uploaded_by_type: string;
  uploaded_by_id: string;
  request_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface DecisionFileResultRow {
  line: number;
  referral_id: string | null;
  status: number;
  problem: ProblemDetails | string | null;
}

export interface NewDecisionFile {
  partnerId: string;
  format: DecisionFileFormat;
  body: string;
  bodySha256: string;
  totalLines: number;
  uploadedBy: { type: 'partner' | 'admin'; id: string };
  requestId: string;
}

const COLUMNS = `f.id, f.partner_id, p.code AS partner_code, f.format, f.status, f.total_lines, f.processed_lines, f.uploaded_by_type,
  f.uploaded_by_id, f.request_id, f.created_at, f.started_at, f.finished_at`;

/** Decision files and their per-line answers. Partner-facing reads take the partner id. */
@Injectable()
export class DecisionFilesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The partner an operator uploads for, by its code. */
  async partnerByCode(code: string): Promise<{ id: string; code: string; status: string } | undefined> {
    const [row] = await this.dataSource.query('SELECT id, code, status FROM partners WHERE code = ?', [code]);
    return row ? { id: String(row.id), code: row.code, status: row.status } : undefined;
  }

  async insert(m: EntityManager, f: NewDecisionFile): Promise<string> {
    const result = await m.query(
      `INSERT INTO decision_files (partner_id, format, body, body_sha256, total_lines, uploaded_by_type, uploaded_by_id, request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [f.partnerId, f.format, f.body, f.bodySha256, f.totalLines, f.uploadedBy.type, f.uploadedBy.id, f.requestId],
    );
    return String(result.insertId);
  }

  /** One of that partner's files; another partner's is not found. The partner id is required, never optional. */
  async findOfPartner(partnerId: string, id: string): Promise<DecisionFileRow | undefined> {
    if (!partnerId) throw new Error('a partner-scoped read needs the partner id');
    const [row] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM decision_files f JOIN partners p ON p.id = f.partner_id WHERE f.id = ? AND f.partner_id = ?`,
      [id, partnerId],
    );
    return toFileRow(row);
  }

  /** Any partner's file, by id: for the worker deciding it and for operators. Never for a partner-facing read. */
  async findAnyPartner(id: string): Promise<DecisionFileRow | undefined> {
    const [row] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM decision_files f JOIN partners p ON p.id = f.partner_id WHERE f.id = ?`,
      [id],
    );
    return toFileRow(row);
  }

  async body(id: string): Promise<string> {
    const [row] = await this.dataSource.query('SELECT body FROM decision_files WHERE id = ?', [id]);
    return row.body;
  }

  /** QUEUED → PROCESSING (a re-run finds it PROCESSING already and carries on). */
  async markProcessing(id: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE decision_files SET status = 'PROCESSING', started_at = COALESCE(started_at, NOW(3)) WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
      [id],
    );
  }

  async answeredLines(fileId: string): Promise<Set<number>> {
    const rows: { line: number }[] = await this.dataSource.query('SELECT line FROM decision_file_results WHERE file_id = ?', [fileId]);
    return new Set(rows.map((r) => Number(r.line)));
  }

  /**
   * Stores answers and the progress they make, in one transaction. A line answered already keeps its first answer
   * (the primary key (file_id, line)), so two runs of the job never answer a line twice. In the caller's transaction.
   */
  async saveResults(
    m: EntityManager,
    fileId: string,
    results: { line: number; referralId: string | null; status: number; problem?: ProblemDetails }[],
  ): Promise<number> {
    await this.insertResults(m, fileId, results);
    await m.query(
      'UPDATE decision_files SET processed_lines = (SELECT COUNT(*) FROM decision_file_results WHERE file_id = ?) WHERE id = ?',
      [fileId, fileId],
    );
    const [row] = await m.query('SELECT processed_lines FROM decision_files WHERE id = ?', [fileId]);
    return Number(row.processed_lines);
  }

  /**
   * Stores answers without counting them: in the transaction that decided their lines (the count would lock the file
   * row in every chunk's transaction). A line answered already keeps its first answer.
   */
  async insertResults(
    m: EntityManager,
    fileId: string,
    results: { line: number; referralId: string | null; status: number; problem?: ProblemDetails }[],
  ): Promise<void> {
    if (!results.length) return;
    await m.query(
      `INSERT INTO decision_file_results (file_id, line, referral_id, status, problem) VALUES ${results.map(() => '(?, ?, ?, ?, ?)').join(', ')}
         ON DUPLICATE KEY UPDATE line = line`,
      results.flatMap((r) => [fileId, r.line, r.referralId, r.status, r.problem ? JSON.stringify(r.problem) : null]),
    );
  }

  async finish(id: string, status: 'COMPLETED' | 'FAILED', error?: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE decision_files SET status = ?, error = ?, finished_at = NOW(3) WHERE id = ? AND status IN ('QUEUED', 'PROCESSING')`,
      [status, error ?? null, id],
    );
  }

  /** A page of answers in line order, `limit + 1` rows so the caller knows whether another page exists. */
  async results(fileId: string, afterLine: number, limit: number): Promise<DecisionFileResultRow[]> {
    return this.dataSource.query(
      'SELECT line, referral_id, status, problem FROM decision_file_results WHERE file_id = ? AND line > ? ORDER BY line LIMIT ?',
      [fileId, afterLine, limit + 1],
    );
  }
}

const toFileRow = (row: DecisionFileRow | undefined): DecisionFileRow | undefined =>
  row ? { ...row, id: String(row.id), partner_id: String(row.partner_id) } : undefined;
