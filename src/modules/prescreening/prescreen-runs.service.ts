import { Injectable } from '@nestjs/common';

import { ConflictError, NotFoundError } from '../../common/errors';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { AuditActorType } from '../audit/audit-entry';
import { CardProductsRepository } from '../card-products/card-products.repository';
import { EXCLUSION_REASONS } from './criteria';
import { DEFAULT_CHUNK_SIZE, PrescreenRunView, runKeyOf, runPublicId, toRunView } from './prescreen-run';
import { PrescreenRunsRepository } from './prescreen-runs.repository';

/** Who starts a run, for the audit entry and the jobs' correlation id. */
export interface RunRequester {
  actorType: AuditActorType;
  actorId: string;
  requestId?: string;
  clientIp?: string;
}

/** The operator use cases of pre-screen runs: start one, read its progress. The work itself: PrescreenExecution. */
@Injectable()
export class PrescreenRunsService {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly runs: PrescreenRunsRepository,
    private readonly products: CardProductsRepository,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * Pins the product's current version and queues the run: the run row, the planning job's outbox row and the audit
   * entry commit together, so a run exists if and only if its work is queued.
   */
  async start(productCode: string, requester: RunRequester, chunkSize = DEFAULT_CHUNK_SIZE): Promise<{ id: string }> {
    const id = await this.tx.run(async (m) => {
      const product = await this.products.findCurrentByCode(productCode, m);
      if (!product) throw new NotFoundError('card product');
      if (product.status !== 'ACTIVE') throw new ConflictError('card-product-suspended', 'A suspended card product cannot be pre-screened');
      const runId = await this.runs.insertRun(m, {
        productId: product.productId,
        productVersion: product.version,
        chunkSize,
        requestedBy: requester.actorId,
      });
      const correlationId = requester.requestId ?? `prescreen:${runPublicId(runId)}`;
      await this.outbox.enqueue(m, 'prescreening', 'prescreen.plan', { runId, correlationId });
      await this.audit.append(
        {
          ...requester,
          action: 'prescreen_run.created',
          resourceType: 'prescreen_run',
          resourceId: runPublicId(runId),
          partnerCode: product.partnerCode,
          outcome: 'SUCCESS',
          httpStatus: requester.requestId ? 202 : undefined,
          details: { productCode, productVersion: product.version, chunkSize },
        },
        m,
      );
      return runId;
    });
    return { id: runPublicId(id) };
  }

  /** Status, progress, counts and reasons; readable while the run is going (sums over the chunks done so far). */
  async view(publicId: string): Promise<PrescreenRunView> {
    const key = runKeyOf(publicId);
    const run = key ? await this.runs.findRun(key) : undefined;
    if (!run) throw new NotFoundError('pre-screen run');
    const [totals, reasons, version] = await Promise.all([
      this.runs.totals(run.id),
      this.runs.reasonTotals(run.id),
      this.products.findVersionById(run.productId, run.productVersion),
    ]);
    const codes = [...new Set([...(version?.criteria ?? []).map((r) => r.reason), ...EXCLUSION_REASONS])];
    return toRunView(run, totals, reasons, codes);
  }
}
