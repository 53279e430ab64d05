import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { AppConfigService } from '../../infra/config/app-config';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { SigningService } from '../signing/signing.service';
import { AuditRepository } from './audit.repository';
import { AuditWriter } from './audit.writer';
import { ArchiveFileWriter } from './audit-archive.file';
import {
  ARCHIVE_MANIFEST_SUBJECT,
  ARCHIVE_MANIFEST_TTL_SECONDS,
  archiveFileName,
  archiveLine,
  ArchiveManifestClaims,
  manifestLine,
} from './audit-archive.format';
import { ArchiveRecord, AuditArchiveRepository } from './audit-archive.repository';
import { CHECKPOINT_AUDIENCE } from './audit-checkpoint.service';
import { GENESIS_HASH, hashEntry } from './audit-entry';
import { archiveChainBroken, archiveCheckpointInvalid } from './audit-errors';

/** Most entries in one archive file (about 600 MB of NDJSON): a first run over years of trail writes several. */
export const MAX_SEGMENT_EVENTS = 1_000_000;
/** Segments one run archives; the daily schedule takes the rest. */
const MAX_SEGMENTS_PER_RUN = 20;
/** Rows removed per transaction: bounds the undo log and the row locks held. */
const DELETE_BATCH = 5_000;
const READ_PAGE = 5_000;

export type ArchivalOutcome =
  | { archived: Array<Pick<ArchiveRecord, 'firstSeq' | 'lastSeq' | 'count' | 'fileName'>>; removed: number }
  | { skipped: 'no-archive-dir' | 'another-run' };

/**
 * Audit retention (docs/AUDIT.md, "Retention and archives"): moves closed segments of the chain older than
 * AUDIT_RETENTION_DAYS into signed NDJSON files in AUDIT_ARCHIVE_DIR, then removes their rows. A segment runs from the
 * last archived seq to a signed checkpoint, so the remaining chain starts from a head both the archive record and the
 * checkpoint prove. Idempotent: a run with nothing due does nothing; an interrupted run's leftovers are removed next time.
 */
@Injectable()
export class AuditArchiver {
  private readonly logger = new Logger(AuditArchiver.name);

  constructor(
    private readonly config: AppConfigService,
    private readonly dataSource: DataSource,
    private readonly tx: TransactionRunner,
    private readonly events: AuditRepository,
    private readonly archives: AuditArchiveRepository,
    private readonly signing: SigningService,
    private readonly audit: AuditWriter,
  ) {}

  async archiveDue(correlationId: string): Promise<ArchivalOutcome> {
    const { archiveDir, retentionDays } = this.config.values.audit;
    // Without a place to keep them, entries are kept: a trail is never shortened into nothing.
    if (!archiveDir) return { skipped: 'no-archive-dir' };
    const lock = await this.archives.tryLock();
    if (!lock) return { skipped: 'another-run' };
    try {
      let removed = await this.removeArchivedRows();
      const archived: ArchiveRecord[] = [];
      const cutoff = await this.archives.retentionCutoff(retentionDays);
      for (let i = 0; i < MAX_SEGMENTS_PER_RUN; i++) {
        const segment = await this.nextSegment(cutoff);
        if (!segment) break;
        const record = await this.archiveSegment(archiveDir, segment, correlationId);
        archived.push(record);
        removed += await this.removeArchivedRows();
      }
      if (archived.length) this.logger.log({ correlationId, segments: archived.length, removed }, 'audit segments archived');
      return { archived: archived.map(({ firstSeq, lastSeq, count, fileName }) => ({ firstSeq, lastSeq, count, fileName })), removed };
    } finally {
      await lock.release();
    }
  }

  /**
   * The next closed segment: from the archived head to the highest checkpoint below the first entry younger than the
   * cutoff (seq follows time only roughly, so the span is checked, not assumed), at most MAX_SEGMENT_EVENTS long.
   */
  private async nextSegment(cutoff: Date): Promise<Segment | null> {
    const last = await this.archives.lastArchive();
    const after = last?.lastSeq ?? 0;
    const limit = after + MAX_SEGMENT_EVENTS;
    const young = await this.archives.firstSeqAtOrAfter(after, limit, cutoff);
    const checkpoint = await this.archives.lastCheckpointIn(after, young === null ? limit : young - 1);
    if (!checkpoint) return null;
    return { firstSeq: after + 1, prevHash: last?.lastHash ?? GENESIS_HASH, checkpoint };
  }

  /** Writes and signs the file, proving the chain over it as it goes, then records it; nothing is removed here. */
  private async archiveSegment(dir: string, s: Segment, correlationId: string): Promise<ArchiveRecord> {
    const claims = await this.signing
      .verify('audit-checkpoint', s.checkpoint.token, { audience: CHECKPOINT_AUDIENCE, ignoreExpiration: true })
      .catch(() => null);
    if (!claims || claims.seq !== s.checkpoint.seq || claims.hash !== s.checkpoint.hash) throw archiveCheckpointInvalid(s.checkpoint.seq);

    const fileName = archiveFileName(s.firstSeq, s.checkpoint.seq);
    const file = await ArchiveFileWriter.create(dir, fileName);
    try {
      let expected = s.firstSeq;
      let prev = s.prevHash;
      while (expected <= s.checkpoint.seq) {
        const page = await this.events.eventsBetween(this.dataSource, expected, s.checkpoint.seq, READ_PAGE);
        let text = '';
        for (const e of page) {
          if (e.seq !== expected) throw archiveChainBroken(expected, 'entry missing');
          if (e.prevHash !== prev || hashEntry(e) !== e.hash) throw archiveChainBroken(e.seq, 'entry does not verify');
          text += archiveLine(e);
          prev = e.hash;
          expected++;
        }
        if (page.length === 0) throw archiveChainBroken(expected, 'entry missing');
        await file.write(text);
      }
      if (prev !== s.checkpoint.hash) throw archiveCheckpointInvalid(s.checkpoint.seq);

      const entries = file.digest();
      const manifestClaims: ArchiveManifestClaims = {
        firstSeq: s.firstSeq,
        lastSeq: s.checkpoint.seq,
        count: s.checkpoint.seq - s.firstSeq + 1,
        firstPrevHash: s.prevHash,
        lastHash: s.checkpoint.hash,
        sha256: entries.sha256,
        checkpoint: s.checkpoint,
      };
      const { token, kid } = await this.signing.sign(
        'audit-archive',
        { archive: manifestClaims },
        {
          audience: CHECKPOINT_AUDIENCE,
          subject: ARCHIVE_MANIFEST_SUBJECT,
          expiresInSeconds: ARCHIVE_MANIFEST_TTL_SECONDS,
          jwtid: `archive-${s.firstSeq}-${s.checkpoint.seq}`,
        },
      );
      await file.write(manifestLine(token));
      const whole = file.digest();
      await file.commit();

      const record: ArchiveRecord = {
        firstSeq: s.firstSeq,
        lastSeq: s.checkpoint.seq,
        firstPrevHash: s.prevHash,
        lastHash: s.checkpoint.hash,
        count: manifestClaims.count,
        fileName,
        fileSha256: whole.sha256,
        fileBytes: whole.bytes,
        kid,
        manifest: token,
      };
      await this.tx.run(async (m) => {
        await this.archives.insert(m, record);
        await this.audit.append(
          {
            actorType: 'system',
            actorId: 'retention',
            action: 'audit.archived',
            resourceType: 'audit-archive',
            resourceId: fileName,
            requestId: correlationId,
            outcome: 'SUCCESS',
            details: {
              firstSeq: record.firstSeq,
              lastSeq: record.lastSeq,
              count: record.count,
              fileSha256: record.fileSha256,
              checkpointSeq: s.checkpoint.seq,
              kid,
            },
          },
          m,
        );
      });
      return record;
    } catch (error) {
      await file.abandon();
      throw error;
    }
  }

  /** Removes every row at or below the last archive, a batch per transaction (also what an interrupted run left). */
  private async removeArchivedRows(): Promise<number> {
    const last = await this.archives.lastArchive();
    if (!last) return 0;
    let removed = 0;
    for (;;) {
      const n = await this.tx.run((m) => this.archives.deleteArchived(m, last.lastSeq, DELETE_BATCH));
      removed += n;
      if (n < DELETE_BATCH) return removed;
    }
  }
}

interface Segment {
  firstSeq: number;
  prevHash: string;
  checkpoint: { seq: number; hash: string; token: string };
}
