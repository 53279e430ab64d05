import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

type Queryable = Pick<EntityManager, 'query'> | Pick<DataSource, 'query'>;

/** One archived segment as audit_archives records it. */
export interface ArchiveRecord {
  firstSeq: number;
  lastSeq: number;
  firstPrevHash: string;
  lastHash: string;
  count: number;
  fileName: string;
  fileSha256: string;
  fileBytes: number;
  kid: string;
  manifest: string;
}

interface ArchiveRowSql {
  first_seq: string;
  last_seq: string;
  first_prev_hash: string;
  last_hash: string;
  event_count: string;
  file_name: string;
  file_sha256: string;
  file_bytes: string;
  kid: string;
  manifest: string;
}

/** The SQL of audit retention: archive records, which segment is due, and the one permitted removal of chain rows. */
@Injectable()
export class AuditArchiveRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The latest archive: the remaining chain continues from its last hash. */
  async lastArchive(q: Queryable = this.dataSource): Promise<ArchiveRecord | null> {
    const rows: ArchiveRowSql[] = await q.query('SELECT * FROM audit_archives ORDER BY last_seq DESC LIMIT 1');
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async all(): Promise<ArchiveRecord[]> {
    const rows: ArchiveRowSql[] = await this.dataSource.query('SELECT * FROM audit_archives ORDER BY last_seq');
    return rows.map(toRecord);
  }

  /**
   * The lowest seq in (afterSeq, upToSeq] that occurred at or after `cutoff`: the segment must end before it. Walks the
   * primary key over that span only (the time index would read every younger entry of the trail).
   */
  async firstSeqAtOrAfter(afterSeq: number, upToSeq: number, cutoff: Date): Promise<number | null> {
    const rows: { seq: string }[] = await this.dataSource.query(
      `SELECT seq FROM audit_events FORCE INDEX (PRIMARY)
        WHERE seq > ? AND seq <= ? AND occurred_at >= ? ORDER BY seq LIMIT 1`,
      [afterSeq, upToSeq, cutoff],
    );
    return rows[0] ? Number(rows[0].seq) : null;
  }

  /** The highest checkpoint in (afterSeq, upToSeq]: where a closed segment may end. */
  async lastCheckpointIn(afterSeq: number, upToSeq: number): Promise<{ seq: number; hash: string; token: string } | null> {
    const rows: { seq: string; hash: string; token: string }[] = await this.dataSource.query(
      'SELECT seq, hash, token FROM audit_checkpoints WHERE seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1',
      [afterSeq, upToSeq],
    );
    return rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash, token: rows[0].token } : null;
  }

  /** The database's clock minus the retention: occurred_at is the database's time, so one clock decides. */
  async retentionCutoff(retentionDays: number): Promise<Date> {
    const rows: { cutoff: Date }[] = await this.dataSource.query('SELECT NOW(3) - INTERVAL ? DAY AS cutoff', [retentionDays]);
    return new Date(rows[0].cutoff);
  }

  async insert(m: EntityManager, a: ArchiveRecord): Promise<void> {
    await m.query(
      `INSERT INTO audit_archives (first_seq, last_seq, first_prev_hash, last_hash, event_count, file_name, file_sha256, file_bytes,
                                   kid, manifest)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [a.firstSeq, a.lastSeq, a.firstPrevHash, a.lastHash, a.count, a.fileName, a.fileSha256, a.fileBytes, a.kid, a.manifest],
    );
  }

  /**
   * Removes up to `limit` chain rows at or below `throughSeq`, which must be archived already: the DELETE trigger
   * refuses any row above both @audit_archive_through and the last archived seq. The variable lives only for this
   * statement's transaction on this connection, and is cleared before the connection returns to the pool.
   */
  async deleteArchived(m: EntityManager, throughSeq: number, limit: number): Promise<number> {
    await m.query('SET @audit_archive_through = ?', [throughSeq]);
    try {
      const result: { affectedRows: number } = await m.query('DELETE FROM audit_events WHERE seq <= ? ORDER BY seq LIMIT ?', [
        throughSeq,
        limit,
      ]);
      return result.affectedRows;
    } finally {
      await m.query('SET @audit_archive_through = NULL');
    }
  }

  /**
   * A lock on the database server that one archival run holds (named per database: test runs share a server). The
   * lock belongs to a connection, so the caller keeps the returned one until `release`.
   */
  async tryLock(): Promise<{ release(): Promise<void> } | null> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const rows: { got: number | string | null }[] = await runner.query("SELECT GET_LOCK(CONCAT(DATABASE(), ':audit-archive'), 0) AS got");
      if (Number(rows[0]?.got) !== 1) {
        await runner.release();
        return null;
      }
    } catch (error) {
      await runner.release();
      throw error;
    }
    return {
      release: async () => {
        try {
          await runner.query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), ':audit-archive'))");
        } finally {
          await runner.release();
        }
      },
    };
  }
}

const toRecord = (r: ArchiveRowSql): ArchiveRecord => ({
  firstSeq: Number(r.first_seq),
  lastSeq: Number(r.last_seq),
  firstPrevHash: r.first_prev_hash,
  lastHash: r.last_hash,
  count: Number(r.event_count),
  fileName: r.file_name,
  fileSha256: r.file_sha256,
  fileBytes: Number(r.file_bytes),
  kid: r.kid,
  manifest: r.manifest,
});
