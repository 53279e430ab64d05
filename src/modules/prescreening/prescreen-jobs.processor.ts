import { Injectable, Logger } from '@nestjs/common';

import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler, JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { DEFAULT_JOB_OPTIONS } from '../../infra/queues/queues.module';
import { PrescreenExecution } from './prescreen-execution.service';

/** Relayed jobs carry the queue's default options, so this is the attempt after which BullMQ gives up. */
const LAST_ATTEMPT = DEFAULT_JOB_OPTIONS.attempts;

/**
 * The `prescreening` queue: planning and chunk jobs, shared by every worker. A handler that throws is retried by
 * BullMQ; on the last attempt the run is marked FAILED first, so the failure is visible on the run itself
 * (GET /v1/admin/prescreen-runs/{id}) and not only in the queue.
 */
@Injectable()
export class PrescreenJobsProcessor {
  private readonly logger = new Logger(PrescreenJobsProcessor.name);

  constructor(private readonly execution: PrescreenExecution) {}

  @JobHandler('prescreening', 'prescreen.plan')
  async plan(payload: JobPayload<'prescreening', 'prescreen.plan'>, ctx: JobContext): Promise<unknown> {
    return this.failingRunOnLastAttempt(payload.runId, ctx, 'planning', async () => {
      const outcome = await this.execution.plan(payload.runId, payload.correlationId);
      await ctx.progress(outcome);
      return outcome;
    });
  }

  @JobHandler('prescreening', 'prescreen.chunk')
  async chunk(payload: JobPayload<'prescreening', 'prescreen.chunk'>, ctx: JobContext): Promise<unknown> {
    return this.failingRunOnLastAttempt(payload.runId, ctx, `chunk ${payload.chunkNo}`, async () => {
      const outcome = await this.execution.evaluateChunk(payload.runId, payload.chunkNo);
      const summary = outcome.done
        ? {
            evaluated: outcome.counts.evaluated,
            eligible: outcome.counts.eligible,
            offersCreated: outcome.counts.offersCreated,
            runCompleted: outcome.runCompleted,
          }
        : { skipped: outcome.reason };
      await ctx.progress(summary);
      return summary;
    });
  }

  /**
   * BullMQ gave up on a planning or chunk job without its last attempt failing here (it stalled more often than
   * allowed: its worker kept dying mid-job): the run cannot complete, so it becomes FAILED instead of RUNNING forever.
   */
  @JobAbandonedHandler('prescreening', 'prescreen.plan')
  async planAbandoned(payload: JobPayload<'prescreening', 'prescreen.plan'>, reason: string): Promise<void> {
    await this.abandonRun(payload.runId, 'planning', reason);
  }

  @JobAbandonedHandler('prescreening', 'prescreen.chunk')
  async chunkAbandoned(payload: JobPayload<'prescreening', 'prescreen.chunk'>, reason: string): Promise<void> {
    await this.abandonRun(payload.runId, `chunk ${payload.chunkNo}`, reason);
  }

  private async abandonRun(runId: string, step: string, reason: string): Promise<void> {
    this.logger.warn({ runId, step, reason }, 'pre-screen job abandoned by the job queue');
    // As with a last attempt: the operator sees which step was lost; BullMQ's text stays in the logs and the outbox row.
    await this.execution.fail(runId, `${step} was abandoned by the job queue`);
  }

  private async failingRunOnLastAttempt<T>(runId: string, ctx: JobContext, step: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.warn({ runId, step, attempt: ctx.attempt, err: message }, 'pre-screen job failed');
      if (ctx.attempt >= LAST_ATTEMPT) {
        // The operator sees which step gave up; the error text itself stays in the logs and the outbox row.
        await this.execution.fail(runId, `${step} failed after ${ctx.attempt} attempts`);
      }
      throw error;
    }
  }
}
