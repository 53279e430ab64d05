import { Injectable } from '@nestjs/common';

import { FieldError } from '../../common/errors';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { boundedErrors, BulkLine } from '../../infra/http/bulk-lines';
import { AuditWriter } from '../audit/audit.writer';
import { AuditActorType } from '../audit/audit-entry';
import { CreditRecordRow, CreditRecordsRepository, RepaymentStatusUpdate, StoredCreditRecord } from './credit-records.repository';
import { Identity, IdentityProtector } from './identity-protector';
import { CreditRecordLine, latestAcceptedAsOf, validateCreditRecordLine } from './ingest/credit-record-line';
import { RepaymentStatusLine, validateRepaymentStatusLine } from './ingest/repayment-status-line';

export interface RejectedLine {
  line: number;
  errors: FieldError[];
}

/** The answer of both ingest endpoints (API.md). */
export interface IngestResult {
  accepted: number;
  ignored: number;
  rejected: RejectedLine[];
}

/** Who ingests, for the audit entry. */
export interface IngestActor {
  actorType: AuditActorType;
  actorId: string;
  requestId?: string;
  clientIp?: string;
}

/** Rows per transaction: one multi-row statement each, short enough to keep lock waits small. */
export const INGEST_CHUNK_SIZE = 1000;
const DUPLICATE_KEY = 1062;
const MAX_CHUNK_ATTEMPTS = 3;

const NOT_JSON: FieldError[] = [{ field: null, message: 'is not valid JSON' }];

const isDuplicateKey = (e: unknown) => {
  const err = e as { errno?: number; driverError?: { errno?: number } };
  return err?.errno === DUPLICATE_KEY || err?.driverError?.errno === DUPLICATE_KEY;
};

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const byUserId = <T extends { userId: string }>(a: T, b: T) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0);

/**
 * Ingest of the platform's credit records: snapshots and repayment-status updates.
 *
 * Counting is exact under concurrency: each chunk's stored rows are read FOR UPDATE in the write's transaction,
 * first snapshots are plain INSERTs (a concurrent first insert of the same user makes ours fail with a duplicate
 * key, and the chunk is retried against the now-visible row), and newer ones are guarded upserts.
 *
 * Duplicates of one userId within a request: only the newest asOf is applied (the first of equal ones for
 * snapshots, since an equal snapshot "changes nothing"; the last of equal ones for repayment status, since an
 * equal-dated status replaces the current one); the others count as ignored, as if applied one after another.
 */
@Injectable()
export class CreditRecordsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly records: CreditRecordsRepository,
    private readonly identity: IdentityProtector,
    private readonly audit: AuditWriter,
  ) {}

  /** Validates, de-duplicates and writes credit record snapshots; audits the counts (never the content). */
  async ingestCreditRecords(lines: Iterable<BulkLine>, actor: IngestActor): Promise<IngestResult> {
    const result = await this.writeCreditRecords(lines);
    await this.auditIngest('credit_records.ingested', actor, { ...result, rejected: result.rejected.length });
    return result;
  }

  /** The same without the audit entry, for callers that ingest one file in many calls and audit it once (the CLI). */
  async writeCreditRecords(lines: Iterable<BulkLine>): Promise<IngestResult> {
    const latest = latestAcceptedAsOf();
    const rejected: RejectedLine[] = [];
    const newest = new Map<string, CreditRecordLine>();
    let ignored = 0;
    for (const entry of lines) {
      if (entry.notJson) {
        rejected.push({ line: entry.line, errors: NOT_JSON });
        continue;
      }
      const checked = validateCreditRecordLine(entry.value, latest);
      if (!checked.ok) {
        rejected.push({ line: entry.line, errors: boundedErrors(checked.errors) });
        continue;
      }
      const record = checked.value;
      const kept = newest.get(record.userId);
      if (kept) ignored++;
      if (!kept || record.asOf > kept.asOf) newest.set(record.userId, record);
    }

    let accepted = 0;
    // Sealing happens per chunk, just before its transaction, so memory holds one chunk of ciphertexts at a time.
    for (const chunk of chunks([...newest.values()].sort(byUserId), INGEST_CHUNK_SIZE)) {
      const written = await this.writeSnapshotChunk(chunk.map((r) => this.toRow(r)));
      accepted += written;
      ignored += chunk.length - written;
    }
    return { accepted, ignored, rejected };
  }

  /** Validates and applies repayment-status updates; a userId without a credit record is rejected on its line. */
  async ingestRepaymentStatus(lines: Iterable<BulkLine>, actor: IngestActor): Promise<IngestResult> {
    const latest = latestAcceptedAsOf();
    const rejected: RejectedLine[] = [];
    const newest = new Map<string, RepaymentStatusLine & { line: number }>();
    const linesOfUser = new Map<string, number[]>();
    // Every valid line, in line order: the older ones of a user are history too (a catch-up file of several days).
    const allOfUser = new Map<string, RepaymentStatusLine[]>();
    for (const entry of lines) {
      if (entry.notJson) {
        rejected.push({ line: entry.line, errors: NOT_JSON });
        continue;
      }
      const checked = validateRepaymentStatusLine(entry.value, latest);
      if (!checked.ok) {
        rejected.push({ line: entry.line, errors: boundedErrors(checked.errors) });
        continue;
      }
      const update = { ...checked.value, line: entry.line };
      const kept = newest.get(update.userId);
      if (!kept || update.asOf >= kept.asOf) newest.set(update.userId, update);
      linesOfUser.set(update.userId, [...(linesOfUser.get(update.userId) ?? []), entry.line]);
      allOfUser.set(update.userId, [...(allOfUser.get(update.userId) ?? []), checked.value]);
    }

    let accepted = 0;
    let ignored = 0;
    for (const chunk of chunks([...newest.values()].sort(byUserId), INGEST_CHUNK_SIZE)) {
      const outcome = await this.tx.run(async (m) => {
        const stored = await this.records.lockStates(
          m,
          chunk.map((u) => u.userId),
        );
        const apply: RepaymentStatusUpdate[] = [];
        const history: RepaymentStatusUpdate[] = [];
        const unknown: string[] = [];
        for (const u of chunk) {
          const s = stored.get(u.userId);
          if (!s) unknown.push(u.userId);
          else if (u.asOf >= s.asOf && u.asOf >= s.currentDpdAsOf) apply.push(u);
          if (s) history.push(...(allOfUser.get(u.userId) ?? []).filter((h) => h.asOf >= s.asOf && h.asOf >= s.currentDpdAsOf));
        }
        await this.records.preservePinnedVersions(
          m,
          apply.map((u) => u.userId),
        );
        await this.records.applyRepaymentStatus(m, apply, history);
        return { applied: apply.length, unknown };
      });
      accepted += outcome.applied;
      const unknownLines = outcome.unknown.flatMap((userId) => linesOfUser.get(userId) ?? []);
      for (const line of unknownLines) {
        rejected.push({ line, errors: [{ field: 'userId', message: 'has no credit record; send a snapshot first' }] });
      }
      const linesInChunk = chunk.reduce((n, u) => n + (linesOfUser.get(u.userId)?.length ?? 0), 0);
      ignored += linesInChunk - outcome.applied - unknownLines.length;
    }
    rejected.sort((a, b) => a.line - b.line);
    const result = { accepted, ignored, rejected };
    await this.auditIngest('credit_records.repayment_status.ingested', actor, { ...result, rejected: rejected.length });
    return result;
  }

  /** One audit entry per ingest (a request, or a whole CLI file): counts only, never a line's content. */
  async auditIngest(action: string, actor: IngestActor, counts: { accepted: number; ignored: number; rejected: number }): Promise<void> {
    await this.audit.append({
      ...actor,
      action,
      resourceType: 'credit_record',
      outcome: 'SUCCESS',
      details: { accepted: counts.accepted, ignored: counts.ignored, rejected: counts.rejected },
    });
  }

  /** User ids whose stored national id matches, through the keyed hash only. */
  findUserIdsByNationalId(nationalId: string): Promise<string[]> {
    return this.records.findUserIdsByNationalIdHash(this.identity.nationalIdHash(nationalId));
  }

  findUserIdsByPhone(phone: string): Promise<string[]> {
    return this.records.findUserIdsByPhoneHash(this.identity.phoneHash(phone));
  }

  /** The identity of the user's current record, opened; null when the platform has no record of the user. */
  async identityOf(userId: string): Promise<Identity | null> {
    const sealed = await this.records.findSealedIdentity(userId);
    return sealed ? this.identity.open(userId, sealed) : null;
  }

  /** The current record with its identity opened, for use cases that must hand it on (referral packaging). */
  async currentRecord(userId: string): Promise<(StoredCreditRecord & { identity: Identity }) | null> {
    const row = await this.records.findByUserId(userId);
    return row ? { ...row, identity: this.identity.open(userId, row.identityEnc) } : null;
  }

  /** Returns how many rows of the chunk were written (the rest were not newer than what is stored). */
  private async writeSnapshotChunk(rows: CreditRecordRow[]): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tx.run(async (m) => {
          const stored = await this.records.lockStates(
            m,
            rows.map((r) => r.userId),
          );
          const fresh: CreditRecordRow[] = [];
          const newer: CreditRecordRow[] = [];
          for (const row of rows) {
            const s = stored.get(row.userId);
            if (!s) fresh.push(row);
            else if (row.asOf > s.asOf) newer.push(row);
          }
          await this.records.insertNew(m, fresh);
          await this.records.preservePinnedVersions(
            m,
            newer.map((r) => r.userId),
          );
          await this.records.applyNewer(m, newer);
          return fresh.length + newer.length;
        });
      } catch (error) {
        // Another request inserted one of these users first: run the chunk again, now seeing its row.
        if (!isDuplicateKey(error) || attempt >= MAX_CHUNK_ATTEMPTS) throw error;
      }
    }
  }

  private toRow(r: CreditRecordLine): CreditRecordRow {
    return {
      userId: r.userId,
      asOf: r.asOf,
      identityEnc: this.identity.seal(r.userId, r.identity),
      nationalIdHash: this.identity.nationalIdHash(r.identity.nationalId),
      phoneHash: this.identity.phoneHash(r.identity.phone),
      kycLevel: r.identity.kycLevel,
      score: r.score,
      riskGrade: r.riskGrade,
      creditLimit: r.creditLimit,
      balance: r.balance,
      accountOpenedAt: r.accountOpenedAt,
      onTimeCount24m: r.repayment.onTimeCount24m,
      overdueCount24m: r.repayment.overdueCount24m,
      maxDpd24m: r.repayment.maxDpd24m,
      currentDpd: r.repayment.currentDpd,
      overdueAmount: r.repayment.overdueAmount,
      orders12m: r.consumption.orders12m,
      gmv12m: r.consumption.gmv12m,
      returnRate12m: r.consumption.returnRate12m.toFixed(4),
      avgReviewScore: r.consumption.avgReviewScore.toFixed(2),
      addressStable12m: r.consumption.addressStable12m ? 1 : 0,
      accountsOnDevice: r.device.accountsOnDevice,
      topCategories: JSON.stringify(r.consumption.topCategories),
    };
  }
}
