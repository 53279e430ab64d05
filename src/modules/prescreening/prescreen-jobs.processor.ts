import { Injectable, Logger } from '@nestjs/common';

import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler, JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { PrescreenExecution } from './prescreen-execution.service';

/**
 * The `prescreening` queue: planning and chunk jobs, shared by every worker. A handler that throws is retried by
 * BullMQ until it succeeds (retry policy UNTIL_DONE); when BullMQ gives up all the same, the run is marked FAILED, so
 * the failure is visible on the run itself (GET /v1/admin/prescreen-runs/{id}) and not only in the queue.
 */
@Injectable()
export class PrescreenJobsProcessor {
  private readonly logger = new Logger(PrescreenJobsProcessor.name);

  constructor(private readonly execution: PrescreenExecution) {}

  @JobHandler('prescreening', 'prescreen.plan')
  async plan(payload: JobPayload<'prescreening', 'prescreen.plan'>, ctx: JobContext): Promise<unknown> {
    const outcome = await this.execution.plan(payload.runId, payload.correlationId);
    await ctx.progress(outcome);
    return outcome;
  }

  @JobHandler('prescreening', 'prescreen.chunk')
  async chunk(payload: JobPayload<'prescreening', 'prescreen.chunk'>, ctx: JobContext): Promise<unknown> {
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
  }

  /**
   * BullMQ gave up on a planning or chunk job (its attempts ran out, or it stalled more often than allowed: its worker
   * kept dying mid-job): the run cannot complete, so it becomes FAILED instead of RUNNING forever.
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
    // The operator sees which step was lost; BullMQ's text (the error) stays in the logs and the outbox row.
    await this.execution.fail(runId, `${step} was abandoned by the job queue`);
  }
}
