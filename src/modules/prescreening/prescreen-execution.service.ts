import { Injectable, Logger } from '@nestjs/common';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { CardProductsRepository } from '../card-products/card-products.repository';
import { OffersRepository, UserIdRange } from '../offers/offers.repository';
import { compileCriteria } from './criteria';
import { runPublicId } from './prescreen-run';
import { ChunkCounts, PrescreenRunsRepository } from './prescreen-runs.repository';

export type PlanOutcome = { planned: true; chunks: number; totalUsers: number } | { planned: false; reason: 'already-planned' | 'not-queued' };
export type ChunkOutcome = { done: true; counts: ChunkCounts; runCompleted: boolean } | { done: false; reason: 'already-done' | 'run-ended' };

/**
 * The work of a pre-screen run, as the job handlers drive it. Both steps are idempotent under BullMQ's
 * at-least-once delivery: planning does nothing once the run is planned; a chunk does nothing once it is DONE.
 * A chunk is one transaction, so a worker that dies mid-chunk leaves no trace and the retry starts clean.
 */
@Injectable()
export class PrescreenExecution {
  private readonly logger = new Logger(PrescreenExecution.name);

  constructor(
    private readonly tx: TransactionRunner,
    private readonly runs: PrescreenRunsRepository,
    private readonly products: CardProductsRepository,
    private readonly offers: OffersRepository,
    private readonly outbox: OutboxService,
    private readonly audit: AuditWriter,
  ) {}

  /**
   * Splits the credit records into user-id ranges of `chunkSize` users (a keyset walk over the primary key), and in
   * the same transaction writes the chunk rows, one outbox row per chunk job, and moves the run to RUNNING.
   */
  async plan(runId: string, correlationId: string): Promise<PlanOutcome> {
    return this.tx.run(async (m): Promise<PlanOutcome> => {
      const run = await this.runs.lockRun(m, runId);
      if (!run) throw new Error(`pre-screen run ${runId} does not exist`);
      if (run.chunkCount !== null) return { planned: false, reason: 'already-planned' };
      if (run.status !== 'QUEUED') return { planned: false, reason: 'not-queued' };

      const ranges: UserIdRange[] = [];
      let after: string | null = null;
      for (;;) {
        const upto = await this.runs.nextBoundary(m, after, run.chunkSize);
        if (upto === undefined) break;
        ranges.push({ after, upto });
        after = upto;
      }
      // The last range is open above: users ingested after planning are evaluated too, by exactly one chunk.
      const tail = await this.runs.countUsers(m, { after, upto: null });
      ranges.push({ after, upto: null });
      const totalUsers = (ranges.length - 1) * run.chunkSize + tail;

      await this.runs.insertChunks(m, runId, ranges);
      for (let chunkNo = 0; chunkNo < ranges.length; chunkNo++) {
        await this.outbox.enqueue(m, 'prescreening', 'prescreen.chunk', { runId, chunkNo, correlationId });
      }
      await this.runs.markPlanned(m, runId, ranges.length, totalUsers);
      return { planned: true, chunks: ranges.length, totalUsers };
    });
  }

  /**
   * Evaluates one chunk inside MySQL, set-based, in one transaction: lock the chunk (skip if DONE); expire the
   * product's stale live offers in the range; copy the eligible users' current records to snapshots; make offers
   * for eligible users without a live one, pinned to the snapshot version; count users per outcome and reason;
   * store the counts and mark the chunk DONE; count it on the run and complete the run if it was the last.
   */
  async evaluateChunk(runId: string, chunkNo: number): Promise<ChunkOutcome> {
    return this.tx.run(async (m): Promise<ChunkOutcome> => {
      const chunk = await this.runs.lockChunk(m, runId, chunkNo);
      if (!chunk) throw new Error(`pre-screen run ${runId} has no chunk ${chunkNo}`);
      if (chunk.done) return { done: false, reason: 'already-done' };
      const run = await this.runs.findRun(runId, m);
      if (!run) throw new Error(`pre-screen run ${runId} does not exist`);
      // A FAILED run stays failed; its remaining chunks are not worth the database's time.
      if (run.status !== 'RUNNING') return { done: false, reason: 'run-ended' };
      const product = await this.products.findVersionById(run.productId, run.productVersion, m);
      if (!product) throw new Error(`card product version ${run.productId}/${run.productVersion} does not exist`);

      const compiled = compileCriteria(product.criteria, {
        alias: 'cr',
        exclusions: { partnerId: product.partnerId, delinquencyScope: product.delinquencyScope },
      });
      await this.offers.expireInRange(m, run.productId, chunk.range);
      // Evaluated once into a temporary table: the snapshot copy, the offers and the counts all read it.
      const evaluation = await this.runs.evaluateRange(m, compiled.marked, chunk.range);
      await this.runs.copySnapshots(m, run.productId, evaluation);
      const offersCreated = await this.offers.createForEligible(
        m,
        { productId: run.productId, productVersion: run.productVersion, runId, ttlDays: product.offerTtlDays },
        evaluation.eligibleRecords,
      );
      const counted = await this.runs.aggregate(m, evaluation);
      await this.runs.dropEvaluation(m);
      const counts: ChunkCounts = { ...counted, offersCreated };
      await this.runs.completeChunk(m, runId, chunkNo, counts);

      const runCompleted = await this.runs.countChunkDone(m, runId);
      if (runCompleted) {
        const totals = await this.runs.totals(runId, m);
        await this.audit.append(
          {
            actorType: 'system',
            actorId: 'prescreening',
            action: 'prescreen_run.completed',
            resourceType: 'prescreen_run',
            resourceId: runPublicId(runId),
            partnerCode: product.partnerCode,
            outcome: 'SUCCESS',
            details: { productCode: product.code, productVersion: product.version, ...totals },
          },
          m,
        );
      }
      return { done: true, counts, runCompleted };
    });
  }

  /** The final failure of a run's job: the run becomes FAILED with a reason an operator can read, and is audited. */
  async fail(runId: string, reason: string): Promise<void> {
    const failed = await this.runs.markFailed(runId, reason);
    if (!failed) return;
    this.logger.error({ runId: runPublicId(runId), reason }, 'pre-screen run failed');
    await this.audit.append({
      actorType: 'system',
      actorId: 'prescreening',
      action: 'prescreen_run.failed',
      resourceType: 'prescreen_run',
      resourceId: runPublicId(runId),
      outcome: 'FAILURE',
      details: { reason },
    });
  }
}
