import { createHash } from 'node:crypto';

import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput } from '../audit/audit-entry';
import { DisclosureLedger } from '../disclosures/disclosure-ledger';
import { PartnerEvents } from '../events/partner-events.service';
import { UserIdRange } from '../offers/offers.repository';
import { ChunkNotice, ChunkRecord, OverdueChunkRepository } from './overdue-chunk.repository';
import { noticePublicId, OVERDUE_REPORT_FIELDS, recordPublicId, referralPublicId, scanPublicId, toRecordView } from './overdue-record';
import { ScanCounts } from './overdue-scan';
import { OverdueScansRepository } from './overdue-scans.repository';

export type PlanOutcome = { planned: true; chunks: number; total: number } | { planned: false; reason: 'already-planned' | 'not-queued' };
export type ChunkOutcome =
  { done: true; counts: ScanCounts; scanCompleted: boolean } | { done: false; reason: 'already-done' | 'scan-ended' };

const SYSTEM_ACTOR = { actorType: 'system' as const, actorId: 'overdue-scan' };

const EVENT_TYPE = { NEW: 'overdue.reported', UPDATED: 'overdue.updated', CURED: 'overdue.cured' } as const;
const AUDIT_ACTION = { NEW: 'overdue_report.reported', UPDATED: 'overdue_report.updated', CURED: 'overdue_report.cured' } as const;

/**
 * The work of an overdue scan, as its jobs drive it; both steps idempotent under BullMQ's at-least-once delivery.
 * Planning splits the cardholders into user-id ranges once. A chunk is ONE transaction: the notices, records, their
 * disclosure-ledger rows, audit entries, SETs and notification jobs commit with the chunk's DONE mark, so a worker
 * that dies mid-chunk leaves nothing, and a chunk delivered again finds itself DONE and writes nothing.
 */
@Injectable()
export class OverdueScanExecution {
  private readonly logger = new Logger(OverdueScanExecution.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly scans: OverdueScansRepository,
    private readonly chunks: OverdueChunkRepository,
    private readonly outbox: OutboxService,
    private readonly events: PartnerEvents,
    private readonly ledger: DisclosureLedger,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * Walks the cardholder index for chunk boundaries (outside any transaction), then writes the chunks, their jobs and
   * QUEUED → RUNNING in one transaction under the scan's lock, unless another delivery planned first. The last range
   * is open above, so a cardholder enrolled meanwhile is judged by exactly one chunk.
   */
  async plan(scanId: string, correlationId: string): Promise<PlanOutcome> {
    const scan = await this.scans.findScan(scanId);
    if (!scan) throw new Error(`overdue scan ${scanId} does not exist`);
    if (scan.status !== 'QUEUED') return { planned: false, reason: scan.chunkCount !== null ? 'already-planned' : 'not-queued' };
    const ranges: UserIdRange[] = [];
    let after: string | null = null;
    for (;;) {
      const upto = await this.scans.nextBoundary(after, scan.chunkSize);
      if (upto === undefined) break;
      ranges.push({ after, upto });
      after = upto;
    }
    ranges.push({ after, upto: null });
    return this.tx.run(async (m): Promise<PlanOutcome> => {
      const locked = await this.scans.lockScan(m, scanId);
      if (!locked) throw new Error(`overdue scan ${scanId} does not exist`);
      if (locked.status !== 'QUEUED' || (await this.scans.chunkCount(m, scanId)) > 0) {
        return { planned: false, reason: locked.chunkCount !== null ? 'already-planned' : 'not-queued' };
      }
      const total = await this.scans.countCardholders(m);
      await this.scans.insertPlan(m, scanId, ranges, total);
      await this.outbox.enqueueMany(
        m,
        'overdue',
        'overdue.scan-chunk',
        ranges.map((_, chunkNo) => ({ scanId, chunkNo, correlationId })),
      );
      return { planned: true, chunks: ranges.length, total };
    });
  }

  /** One chunk, set-based (OverdueChunkRepository), in one transaction with everything it leads to. */
  async evaluateChunk(scanId: string, chunkNo: number, correlationId: string): Promise<ChunkOutcome> {
    return this.tx.run(async (m): Promise<ChunkOutcome> => {
      const chunk = await this.scans.lockChunk(m, scanId, chunkNo);
      if (!chunk) throw new Error(`overdue scan ${scanId} has no chunk ${chunkNo}`);
      if (chunk.done) return { done: false, reason: 'already-done' };
      const scan = await this.scans.findScan(scanId, m);
      if (!scan) throw new Error(`overdue scan ${scanId} does not exist`);
      if (scan.status !== 'RUNNING') return { done: false, reason: 'scan-ended' };

      const cardholders = await this.chunks.countCardholders(m, chunk.range);
      await this.chunks.evaluate(m, chunk.range, scan.asOf);
      const cancelled = await this.chunks.cancelNotices(m, scan.asOf, scanId);
      const created = await this.chunks.createNotices(m, scan.asOf, scanId);
      const records = await this.chunks.createRecords(m, scan.asOf, scanId);
      const counts: ScanCounts = { cardholders, ...(await this.chunks.counts(m)) };
      await this.chunks.drop(m);

      await this.outbox.enqueueMany(
        m,
        'overdue',
        'overdue.notice-send',
        created.map((n) => ({ noticeId: n.noticeId, correlationId })),
      );
      await this.shareRecords(m, records, scanId);
      await this.audit.appendMany(
        [...cancelled, ...created].map((n) => this.noticeEntry(n, scanId, scan.asOf)),
        m,
      );
      await this.scans.completeChunk(m, scanId, chunkNo, counts);
      const scanCompleted = await this.scans.countChunkDone(m, scanId);
      if (scanCompleted) {
        await this.audit.append(
          {
            ...SYSTEM_ACTOR,
            action: 'overdue_scan.completed',
            resourceType: 'overdue_scan',
            resourceId: scanPublicId(scanId),
            outcome: 'SUCCESS',
            details: { asOf: scan.asOf, ...(await this.scans.totals(scanId, m)) },
          },
          m,
        );
      }
      return { done: true, counts, scanCompleted };
    });
  }

  /** The final failure of a scan's job: FAILED with a reason an operator can read (no longer blocks a new scan). */
  async fail(scanId: string, reason: string): Promise<void> {
    if (!(await this.scans.markFailed(scanId, reason))) return;
    this.logger.error({ scanId: scanPublicId(scanId), reason }, 'overdue scan failed');
    await this.audit.append({
      ...SYSTEM_ACTOR,
      action: 'overdue_scan.failed',
      resourceType: 'overdue_scan',
      resourceId: scanPublicId(scanId),
      outcome: 'FAILURE',
      details: { reason },
    });
  }

  /**
   * What makes a record shared, in the chunk's transaction: its SET in the partner's feed (and push), its
   * disclosure-ledger row with the SET's digest, and its audit entry. Batched: a few statements per partner.
   */
  private async shareRecords(m: EntityManager, records: ChunkRecord[], scanId: string): Promise<void> {
    if (!records.length) return;
    const emitted = await this.events.emitMany(
      m,
      records.map((r) => ({
        partnerId: String(r.partner_id),
        type: EVENT_TYPE[r.status],
        txn: recordPublicId(r.id),
        dedupeKey: `overdue-record:${r.id}`,
        toe: new Date(r.created_at),
        payload: { ...toRecordView(r) },
      })),
    );
    const digests = new Map<string, { eventId: string; sha256: string }>();
    for (const r of records) {
      const e = emitted.get(`overdue-record:${r.id}`);
      if (!e) throw new Error(`overdue record ${r.id} already had its event`);
      digests.set(r.id, { eventId: e.eventId, sha256: createHash('sha256').update(e.jws, 'ascii').digest('hex') });
    }
    await this.ledger.recordMany(
      m,
      records.map((r) => ({
        userId: r.user_id,
        partnerId: String(r.partner_id),
        consentId: String(r.consent_id),
        referralId: String(r.referral_id),
        kind: 'OVERDUE_REPORT' as const,
        sharedFields: OVERDUE_REPORT_FIELDS,
        artefactSha256: digests.get(r.id)!.sha256,
      })),
    );
    await this.audit.appendMany(
      records.map((r) => ({
        ...SYSTEM_ACTOR,
        action: AUDIT_ACTION[r.status],
        resourceType: 'overdue_report',
        resourceId: recordPublicId(r.id),
        subjectUserHash: this.audit.subjectHash(r.user_id),
        partnerCode: r.partner_code,
        outcome: 'SUCCESS' as const,
        details: {
          scanId: scanPublicId(scanId),
          referralId: referralPublicId(r.referral_id),
          noticeId: noticePublicId(r.notice_id),
          status: r.status,
          dpdBucket: r.dpd_bucket,
          accountStatus: r.account_status,
          reportDate: r.report_date,
          eventId: digests.get(r.id)!.eventId,
          setSha256: digests.get(r.id)!.sha256,
        },
      })),
      m,
    );
  }

  private noticeEntry(n: ChunkNotice, scanId: string, asOf: string): AuditEntryInput {
    return {
      ...SYSTEM_ACTOR,
      action: n.action === 'NOTICE' ? 'overdue_notice.created' : 'overdue_notice.cancelled',
      resourceType: 'overdue_notice',
      resourceId: noticePublicId(n.noticeId),
      subjectUserHash: this.audit.subjectHash(n.userId),
      partnerCode: n.partnerCode,
      outcome: 'SUCCESS',
      details: {
        scanId: scanPublicId(scanId),
        referralId: referralPublicId(n.referralId),
        businessDate: asOf,
        ...(n.action === 'NOTICE' ? {} : { reason: n.action === 'CANCEL' ? 'REPAID' : 'CONSENT_REVOKED' }),
      },
    };
  }
}
