import { Injectable, Logger } from '@nestjs/common';

import { NotFoundError } from '../../common/errors';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { AuditActorType } from '../audit/audit-entry';
import { scanDateBehind, scanDateInFuture, scanInProgress } from './overdue-errors';
import { scanKeyOf, scanPublicId } from './overdue-record';
import { DEFAULT_SCAN_CHUNK_SIZE, OverdueScanView, toScanView, utcToday } from './overdue-scan';
import { OverdueScansRepository } from './overdue-scans.repository';

/** Who starts a scan, for the audit entry and the jobs' correlation id. */
export interface ScanRequester {
  actorType: AuditActorType;
  actorId: string;
  requestId?: string;
  clientIp?: string;
}

export type ScheduledOutcome = { started: string } | { skipped: 'already-scanned' };

/** The operator use cases of overdue scans: start one (API, CLI, schedule), read its progress. The work: OverdueScanExecution. */
@Injectable()
export class OverdueScansService {
  private readonly logger = new Logger(OverdueScansService.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly scans: OverdueScansRepository,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * Queues a scan for business date `asOf`: the scan row, its planning job's outbox row and the audit entry commit
   * together. Dates only move forward: the scan row is inserted first (taking the one active slot, so no other scan
   * can complete meanwhile) and the latest completed date is read after it, so the check cannot race a completion.
   */
  async start(asOf: string, requester: ScanRequester, chunkSize = DEFAULT_SCAN_CHUNK_SIZE): Promise<{ id: string }> {
    if (asOf > utcToday()) throw scanDateInFuture();
    const id = await this.tx.run(async (m) => {
      const scanId = await this.scans.insertScan(m, { asOf, chunkSize, requestedBy: requester.actorId });
      if (scanId === undefined) throw scanInProgress();
      const latest = await this.scans.latestCompletedAsOf(m);
      if (latest !== undefined && asOf < latest) throw scanDateBehind(latest);
      const correlationId = requester.requestId ?? `overdue-scan:${scanPublicId(scanId)}`;
      await this.outbox.enqueue(m, 'overdue', 'overdue.scan-plan', { scanId, correlationId });
      await this.audit.append(
        {
          ...requester,
          action: 'overdue_scan.created',
          resourceType: 'overdue_scan',
          resourceId: scanPublicId(scanId),
          outcome: 'SUCCESS',
          httpStatus: requester.requestId ? 202 : undefined,
          details: { asOf, chunkSize },
        },
        m,
      );
      return scanId;
    });
    return { id: scanPublicId(id) };
  }

  /**
   * The daily schedule's scan for today (UTC). Skipped when today was scanned already (an operator ran it); while
   * another scan is active it throws, so the job's retries try again once that scan has ended.
   */
  async startScheduled(correlationId: string): Promise<ScheduledOutcome> {
    const today = utcToday();
    const latest = await this.scans.latestCompletedAsOf();
    if (latest !== undefined && latest >= today) return { skipped: 'already-scanned' };
    const { id } = await this.start(today, { actorType: 'system', actorId: 'overdue-schedule', requestId: undefined });
    this.logger.log({ scanId: id, asOf: today, correlationId }, 'scheduled overdue scan started');
    return { started: id };
  }

  /** Status, progress and counts; readable while the scan is going (sums over the chunks done so far). */
  async view(publicId: string): Promise<OverdueScanView> {
    const key = scanKeyOf(publicId);
    const scan = key ? await this.scans.findScan(key) : undefined;
    if (!scan) throw new NotFoundError('overdue scan');
    return toScanView(scan, await this.scans.totals(scan.id));
  }
}
