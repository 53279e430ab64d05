import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { OverdueRecordRow, RECORD_COLUMNS } from './overdue-record';

const isDuplicateKey = (error: unknown): boolean => {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === 1062 || e?.driverError?.errno === 1062;
};

/** Which of the day's records a file version covers: the count and the highest id (ids only grow). */
export interface RecordSetSummary {
  count: number;
  lastId: string;
}

export interface StoredVersion extends RecordSetSummary {
  version: number;
  parts: number;
  expiresAt: Date;
}

export interface StoredFile {
  part: number;
  file: string;
  sha256: string;
}

export interface NewFilePart {
  partnerId: string;
  reportDate: string;
  version: number;
  part: number;
  parts: number;
  recordCount: number;
  totalRecords: number;
  lastRecordId: string;
  kid: string;
  jti: string;
  file: string;
  sha256: string;
  expiresAt: Date;
}

/**
 * The SQL of the signed daily files. The day's records are read per partner and report date along
 * idx_overdue_records_partner_date; a scan of that date still running (a re-scan) is left out until it completes.
 */
@Injectable()
export class OverdueReportFilesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Whether a scan for the date has completed, and the id of a scan for it still queued or running (if any). */
  async scansOf(reportDate: string): Promise<{ completed: boolean; activeScanId: string }> {
    const rows: Array<{ id: string; status: string }> = await this.dataSource.query(
      `SELECT id, status FROM overdue_scans WHERE as_of = ? AND status IN ('COMPLETED', 'QUEUED', 'RUNNING')`,
      [reportDate],
    );
    return {
      completed: rows.some((r) => r.status === 'COMPLETED'),
      activeScanId: rows.find((r) => r.status !== 'COMPLETED')?.id ?? '0',
    };
  }

  async summary(partnerId: string, reportDate: string, excludeScanId: string): Promise<RecordSetSummary> {
    const [row] = await this.dataSource.query(
      `SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS last_id FROM overdue_records
        WHERE partner_id = ? AND report_date = ? AND scan_id <> ?`,
      [partnerId, reportDate, excludeScanId],
    );
    return { count: Number(row.n), lastId: String(row.last_id) };
  }

  /** The day's records up to `lastId`, in creation order. */
  async records(partnerId: string, reportDate: string, excludeScanId: string, lastId: string): Promise<OverdueRecordRow[]> {
    return this.dataSource.query(
      `SELECT ${RECORD_COLUMNS} FROM overdue_records o
        WHERE o.partner_id = ? AND o.report_date = ? AND o.scan_id <> ? AND o.id <= ? ORDER BY o.id`,
      [partnerId, reportDate, excludeScanId, lastId],
    );
  }

  async latestVersion(partnerId: string, reportDate: string): Promise<StoredVersion | undefined> {
    const [row] = await this.dataSource.query(
      `SELECT version, parts, total_records, last_record_id, expires_at FROM overdue_report_files
        WHERE partner_id = ? AND report_date = ? AND part = 1 ORDER BY version DESC LIMIT 1`,
      [partnerId, reportDate],
    );
    if (!row) return undefined;
    return {
      version: Number(row.version),
      parts: Number(row.parts),
      count: Number(row.total_records),
      lastId: String(row.last_record_id),
      expiresAt: new Date(row.expires_at),
    };
  }

  async files(partnerId: string, reportDate: string, version: number): Promise<StoredFile[]> {
    const rows: Array<{ part: number; file: string; file_sha256: string }> = await this.dataSource.query(
      `SELECT part, file, file_sha256 FROM overdue_report_files
        WHERE partner_id = ? AND report_date = ? AND version = ? ORDER BY part`,
      [partnerId, reportDate, version],
    );
    return rows.map((r) => ({ part: Number(r.part), file: r.file, sha256: r.file_sha256 }));
  }

  /**
   * Inserts one part; false when it exists. Part 1 goes first: a concurrent builder of the same version waits on its
   * key and, once the first one committed, gets the duplicate and gives up, so a version is never mixed.
   */
  async insertPart(m: EntityManager, p: NewFilePart): Promise<boolean> {
    try {
      await m.query(
        `INSERT INTO overdue_report_files
         (partner_id, report_date, version, part, parts, record_count, total_records, last_record_id, kid, jti, file, file_sha256, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          p.partnerId,
          p.reportDate,
          p.version,
          p.part,
          p.parts,
          p.recordCount,
          p.totalRecords,
          p.lastRecordId,
          p.kid,
          p.jti,
          p.file,
          p.sha256,
          p.expiresAt,
        ],
      );
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }
}
