import { Injectable, Logger } from '@nestjs/common';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditWriter } from '../audit/audit.writer';
import { CardProductsRepository } from '../card-products/card-products.repository';
import { OffersRepository, UserIdRange } from '../offers/offers.repository';
import { compileCriteria } from './criteria';
import { PrescreenRun, runPublicId } from './prescreen-run';
import { ChunkCounts, PrescreenRunsRepository } from './prescreen-runs.repository';

export type PlanOutcome =
  { planned: true; chunks: number; totalUsers: number } | { planned: false; reason: 'already-planned' | 'not-queued' };

/** Why planning has nothing (more) to do for the run: planned already, or ended (FAILED); undefined to go on. */
function planningEnded(run: PrescreenRun): PlanOutcome | undefined {
  if (run.chunkCount !== null) return { planned: false, reason: 'already-planned' };
  if (run.status !== 'QUEUED' && run.status !== 'RUNNING') return { planned: false, reason: 'not-queued' };
  return undefined;
}

/** Chunks committed per planning transaction (each commit lets the outbox relay hand them to the workers). */
const PLAN_STEP_CHUNKS = 4;

export type ChunkOutcome =
  { done: true; counts: ChunkCounts; runCompleted: boolean } | { done: false; reason: 'already-done' | 'run-ended' };

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
   * Splits the credit records into user-id ranges of `chunkSize` users (a keyset walk over the primary key) and
   * writes the chunk rows with one outbox row per chunk job, PLAN_STEP_CHUNKS chunks per transaction: workers
   * evaluate the first chunks while the walk goes on (it reads every row of the table once: 1.6–2.7 s of a 13–20 s
   * run of 400,000 users, during which nothing else of the run could proceed). The first step moves the run to RUNNING;
   * the last adds the open-ended tail chunk and sets chunk_count and total_users, which completion waits for.
   * The walk runs outside the transactions; each step checks under the run's lock that it continues from the last
   * committed chunk, so a job delivered twice (or resumed after a crash) never plans a range twice.
   */
  async plan(runId: string, correlationId: string): Promise<PlanOutcome> {
    for (;;) {
      const run = await this.runs.findRun(runId);
      if (!run) throw new Error(`pre-screen run ${runId} does not exist`);
      const nothingToDo = planningEnded(run);
      if (nothingToDo) return nothingToDo;
      const from = await this.runs.lastChunk(runId);

      const ranges: UserIdRange[] = [];
      let after = from?.upto ?? null;
      let walked = false;
      while (ranges.length < PLAN_STEP_CHUNKS) {
        const upto = await this.runs.nextBoundary(after, run.chunkSize);
        if (upto === undefined) {
          walked = true;
          break;
        }
        ranges.push({ after, upto });
        after = upto;
      }

      const outcome = await this.tx.run(async (m): Promise<PlanOutcome | 'next-step'> => {
        const locked = await this.runs.lockRun(m, runId);
        if (!locked) throw new Error(`pre-screen run ${runId} does not exist`);
        const ended = planningEnded(locked);
        if (ended) return ended;
        const last = await this.runs.lastChunk(runId, m);
        // Another delivery of this job planned meanwhile: walk again from where it stopped.
        if (last?.chunkNo !== from?.chunkNo) return 'next-step';

        const firstChunkNo = last ? last.chunkNo + 1 : 0;
        // The last range is open above: users ingested after planning are evaluated too, by exactly one chunk.
        const tail = walked ? await this.runs.countUsers(m, { after, upto: null }) : 0;
        const step = walked ? [...ranges, { after, upto: null }] : ranges;
        await this.runs.insertChunks(m, runId, firstChunkNo, step);
        await this.outbox.enqueueMany(
          m,
          'prescreening',
          'prescreen.chunk',
          step.map((_, i) => ({ runId, chunkNo: firstChunkNo + i, correlationId })),
        );
        if (locked.status === 'QUEUED') await this.runs.markRunning(m, runId);
        if (!walked) return 'next-step';
        const chunks = firstChunkNo + step.length;
        const totalUsers = (chunks - 1) * run.chunkSize + tail;
        await this.runs.markPlanned(m, runId, chunks, totalUsers);
        return { planned: true, chunks, totalUsers };
      });
      if (outcome !== 'next-step') return outcome;
    }
  }

  /**
   * Evaluates one chunk inside MySQL, set-based, in one transaction: lock the chunk (skip if DONE); expire the
   * product's stale live offers in the range; make offers for eligible users without a live one, pinned to the
   * record version evaluated (copied to a snapshot only if that version is ever replaced, by the ingest: snapshot on
   * write, CreditRecordsRepository.preservePinnedVersions); count users per outcome and reason;
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
      // Evaluated once into a temporary table: the offers and the counts both read it.
      const evaluation = await this.runs.evaluateRange(m, compiled.marked, chunk.range);
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
