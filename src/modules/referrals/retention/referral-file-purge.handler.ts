import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { toPublicId } from '../../../common/public-id';
import { TransactionRunner } from '../../../infra/database/transaction.runner';
import { BasePayload } from '../../../infra/queues/job-catalogue';
import { JobHandler } from '../../../infra/queues/job-handler.decorator';
import { AuditWriter } from '../../audit/audit.writer';
import { ReferralFilePurgeRepository } from './referral-file-purge.repository';

/** Referrals purged in one transaction: bounds the row locks held and the multi-row audit INSERT. */
export const PURGE_BATCH = 500;
/** Bounds one run; the hourly schedule takes whatever is left. */
const MAX_BATCHES = 200;

/**
 * `referrals/referral-files.purge` (hourly, JobSchedules): deletes the sealed files of referrals that ended without a
 * card (DECLINED, WITHDRAWN, EXPIRED) once the consented retention from their end has passed (`file_purge_after`,
 * set by ReferralTransitions). Set-based, a batch per transaction with one audit entry per referral, so compliance
 * can tell for any user which file went and when. Idempotent: a purged referral is no longer due.
 */
@Injectable()
export class ReferralFilePurge {
  private readonly logger = new Logger(ReferralFilePurge.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: ReferralFilePurgeRepository,
    private readonly audit: AuditWriter,
  ) {}

  @JobHandler('referrals', 'referral-files.purge')
  async purge(payload: BasePayload): Promise<{ purged: number }> {
    let purged = 0;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const n = await this.tx.run((m) => this.purgeBatch(m, payload.correlationId));
      purged += n;
      if (n < PURGE_BATCH) break;
    }
    if (purged > 0) this.logger.log({ correlationId: payload.correlationId, purged }, 'referral files purged after retention');
    return { purged };
  }

  private async purgeBatch(m: EntityManager, correlationId: string): Promise<number> {
    const due = await this.repository.lockDue(m, PURGE_BATCH);
    if (due.length === 0) return 0;
    const deleted = await this.repository.deleteFiles(
      m,
      due.map((d) => d.id),
    );
    // Locked above and still due: anything else is a bug, and the batch rolls back.
    if (deleted !== due.length) throw new Error(`referral file purge: ${deleted} of ${due.length} locked files deleted`);
    await this.audit.appendMany(
      due.map((d) => ({
        actorType: 'system' as const,
        actorId: 'retention',
        action: 'referral.file.purged',
        resourceType: 'referral',
        resourceId: toPublicId('ref', d.id),
        subjectUserHash: this.audit.subjectHash(d.user_id),
        partnerCode: d.partner_code,
        requestId: correlationId,
        outcome: 'SUCCESS' as const,
        details: {
          status: d.status,
          fileSha256: d.file_sha256,
          retentionDays: Number(d.retention_days),
          purgeAfter: new Date(d.file_purge_after).toISOString(),
        },
      })),
      m,
    );
    return due.length;
  }
}
