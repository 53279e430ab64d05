import { Injectable, Logger } from '@nestjs/common';

import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler, JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { OverdueNoticesService } from './overdue-notices.service';
import { OverdueScanExecution } from './overdue-scan-execution.service';
import { OverdueScansService } from './overdue-scans.service';

/**
 * The `overdue` queue: the daily schedule's tick, a scan's planning and chunk jobs, and notice delivery, each retried
 * until it succeeds (retry policy UNTIL_DONE). A scan job BullMQ gives up on all the same marks the scan FAILED, so
 * the failure shows on the scan (GET /v1/admin/overdue-scans/{id}) and the next scan may start; a notice it gives up
 * on is audited as a failure (its report keeps waiting for the notice: sharing before notifying is not allowed).
 */
@Injectable()
export class OverdueJobsProcessor {
  private readonly logger = new Logger(OverdueJobsProcessor.name);

  constructor(
    private readonly scans: OverdueScansService,
    private readonly execution: OverdueScanExecution,
    private readonly notices: OverdueNoticesService,
  ) {}

  @JobHandler('overdue', 'overdue.scan-schedule')
  async schedule(payload: JobPayload<'overdue', 'overdue.scan-schedule'>): Promise<unknown> {
    return this.scans.startScheduled(payload.correlationId);
  }

  @JobHandler('overdue', 'overdue.scan-plan')
  async plan(payload: JobPayload<'overdue', 'overdue.scan-plan'>, ctx: JobContext): Promise<unknown> {
    const outcome = await this.execution.plan(payload.scanId, payload.correlationId);
    await ctx.progress(outcome);
    return outcome;
  }

  @JobHandler('overdue', 'overdue.scan-chunk')
  async chunk(payload: JobPayload<'overdue', 'overdue.scan-chunk'>, ctx: JobContext): Promise<unknown> {
    const outcome = await this.execution.evaluateChunk(payload.scanId, payload.chunkNo, payload.correlationId);
    const summary = outcome.done ? { ...outcome.counts, scanCompleted: outcome.scanCompleted } : { skipped: outcome.reason };
    await ctx.progress(summary);
    return summary;
  }

  @JobHandler('overdue', 'overdue.notice-send')
  async sendNotice(payload: JobPayload<'overdue', 'overdue.notice-send'>): Promise<unknown> {
    return { outcome: await this.notices.send(payload.noticeId) };
  }

  @JobAbandonedHandler('overdue', 'overdue.scan-plan')
  async planAbandoned(payload: JobPayload<'overdue', 'overdue.scan-plan'>, reason: string): Promise<void> {
    this.logger.warn({ scanId: payload.scanId, reason }, 'overdue scan planning abandoned by the job queue');
    await this.execution.fail(payload.scanId, 'planning was abandoned by the job queue');
  }

  @JobAbandonedHandler('overdue', 'overdue.scan-chunk')
  async chunkAbandoned(payload: JobPayload<'overdue', 'overdue.scan-chunk'>, reason: string): Promise<void> {
    this.logger.warn({ scanId: payload.scanId, chunkNo: payload.chunkNo, reason }, 'overdue scan chunk abandoned by the job queue');
    await this.execution.fail(payload.scanId, `chunk ${payload.chunkNo} was abandoned by the job queue`);
  }

  @JobAbandonedHandler('overdue', 'overdue.notice-send')
  async sendAbandoned(payload: JobPayload<'overdue', 'overdue.notice-send'>, reason: string): Promise<void> {
    this.logger.error({ noticeId: payload.noticeId, reason }, 'overdue notice delivery abandoned by the job queue');
    await this.notices.deliveryAbandoned(payload.noticeId, payload.correlationId);
  }
}
