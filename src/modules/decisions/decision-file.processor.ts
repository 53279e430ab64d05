import { Injectable, Logger } from '@nestjs/common';

import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobAbandonedHandler, JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { DecisionFilesService } from './decision-files.service';

/**
 * `decisions/decision-file.process`: decides an uploaded file's lines (resumable, see DecisionFilesService.process).
 * A run that throws is retried by BullMQ until it succeeds (retry policy UNTIL_DONE); when BullMQ gives up all the
 * same, the file is marked FAILED, so the bank sees it on GET …/decision-files/{id} instead of PROCESSING forever.
 * The cause stays in the logs.
 */
@Injectable()
export class DecisionFileProcessor {
  private readonly logger = new Logger(DecisionFileProcessor.name);

  constructor(private readonly files: DecisionFilesService) {}

  @JobHandler('decisions', 'decision-file.process')
  async process(payload: JobPayload<'decisions', 'decision-file.process'>, ctx: JobContext): Promise<{ outcome: string }> {
    try {
      const outcome = await this.files.process(payload.fileId, (p) => ctx.progress(p));
      return { outcome };
    } catch (error) {
      this.logger.warn(
        {
          fileId: payload.fileId,
          attempt: ctx.attempt,
          correlationId: payload.correlationId,
          err: error instanceof Error ? error.message : String(error),
        },
        'decision file job failed',
      );
      throw error;
    }
  }

  @JobAbandonedHandler('decisions', 'decision-file.process')
  async abandoned(payload: JobPayload<'decisions', 'decision-file.process'>, reason: string): Promise<void> {
    this.logger.error({ fileId: payload.fileId, correlationId: payload.correlationId, reason }, 'decision file abandoned by the job queue');
    await this.files.fail(payload.fileId, 'processing was abandoned by the job queue');
  }
}
