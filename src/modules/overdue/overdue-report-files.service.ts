import { createHash } from 'node:crypto';

import { Injectable } from '@nestjs/common';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditWriter } from '../audit/audit.writer';
import { partnerAuditFields, RequestActor } from '../auth/actor.decorator';
import { SigningService } from '../signing/signing.service';
import { reportFilesNotReady } from './overdue-errors';
import {
  fileClaims,
  OVERDUE_FILE_LIFETIME_DAYS,
  OVERDUE_FILE_RENEW_BEFORE_MS,
  OverdueReportFilesView,
  splitIntoParts,
  toFileRecord,
} from './overdue-report-file';
import { OverdueReportFilesRepository, RecordSetSummary, StoredVersion } from './overdue-report-files.repository';

const sha256 = (text: string) => createHash('sha256').update(text, 'ascii').digest('hex');

/**
 * The signed daily overdue report files (docs/OVERDUE.md "Signed daily files"). Built on the first fetch after the
 * date's scan completed and stored with their digests, so every later fetch hands out the same bytes; rebuilt as a
 * new version only when the day's records changed (a later scan of the same date added some) or the stored files are
 * about to expire. Concurrent first fetches each sign, but only one version is stored and both answer it.
 */
@Injectable()
export class OverdueReportFilesService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: OverdueReportFilesRepository,
    private readonly signing: SigningService,
    private readonly audit: AuditWriter,
  ) {}

  async forPartner(actor: RequestActor, reportDate: string): Promise<OverdueReportFilesView> {
    const partnerId = actor.principal.partnerId!;
    const scans = await this.repository.scansOf(reportDate);
    if (!scans.completed) throw reportFilesNotReady();
    const current = await this.repository.summary(partnerId, reportDate, scans.activeScanId);
    let stored = await this.repository.latestVersion(partnerId, reportDate);
    let built = false;
    if (!stored || !isCurrent(stored, current)) {
      built = await this.build(partnerId, actor.principal.id, reportDate, (stored?.version ?? 0) + 1, scans.activeScanId, current);
      stored = (await this.repository.latestVersion(partnerId, reportDate))!;
    }
    const files = await this.repository.files(partnerId, reportDate, stored.version);
    // Not a new disclosure: each record got its ledger row when it was made (and went out as a SET then). The entry
    // says which bytes this partner was handed, so "what went to which bank" stays answerable for files too.
    await this.audit.append({
      ...partnerAuditFields(actor),
      action: 'overdue_report_file.fetched',
      resourceType: 'overdue_report_file',
      resourceId: reportDate,
      outcome: 'SUCCESS',
      httpStatus: 200,
      details: { reportDate, version: stored.version, built, recordCount: stored.count, fileSha256: files.map((f) => f.sha256) },
    });
    return { reportDate, parts: files.length, files: files.map((f) => f.file) };
  }

  /** Signs the day's records as `version` and stores every part in one transaction; false when another fetch won. */
  private async build(
    partnerId: string,
    partnerCode: string,
    reportDate: string,
    version: number,
    excludeScanId: string,
    summary: RecordSetSummary,
  ): Promise<boolean> {
    const rows = summary.count === 0 ? [] : await this.repository.records(partnerId, reportDate, excludeScanId, summary.lastId);
    const parts = splitIntoParts(rows.map(toFileRecord));
    const signed = await this.signing.signMany(
      'overdue-report',
      parts.map((records, i) => ({
        claims: fileClaims(reportDate, records, i + 1, parts.length),
        opts: { audience: partnerCode, expiresInSeconds: OVERDUE_FILE_LIFETIME_DAYS * 86_400 },
      })),
    );
    const lastRecordId = rows.length ? rows[rows.length - 1].id : '0';
    return this.tx.run(async (m) => {
      for (const [i, s] of signed.entries()) {
        const inserted = await this.repository.insertPart(m, {
          partnerId,
          reportDate,
          version,
          part: i + 1,
          parts: parts.length,
          recordCount: parts[i].length,
          totalRecords: rows.length,
          lastRecordId,
          kid: s.kid,
          jti: s.jti,
          file: s.token,
          sha256: sha256(s.token),
          expiresAt: s.expiresAt,
        });
        if (inserted) continue;
        // Only part 1 can meet a duplicate: another fetch stored this version whole, and that is what we answer.
        if (i === 0) return false;
        throw new Error(`overdue report file version ${version} is partly stored`);
      }
      return true;
    });
  }
}

/** The stored version covers exactly the day's records now, and is not about to expire. */
const isCurrent = (stored: StoredVersion, current: RecordSetSummary) =>
  stored.count === current.count &&
  stored.lastId === current.lastId &&
  stored.expiresAt.getTime() - Date.now() > OVERDUE_FILE_RENEW_BEFORE_MS;
