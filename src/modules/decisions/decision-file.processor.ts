import { Injectable, Logger } from '@nestjs/common';

import { JobPayload } from '../../infra/queues/job-catalogue';
import { JobContext, JobHandler } from '../../infra/queues/job-handler.decorator';
import { DEFAULT_JOB_OPTIONS } from '../../infra/queues/queues.module';
import { DecisionFilesService } from './decision-files.service';

/** Relayed jobs carry the queue's default options, so this is the attempt after which BullMQ gives up. */
const LAST_ATTEMPT = DEFAULT_JOB_OPTIONS.attempts;

/**
 * `decisions/decision-file.process`: decides an uploaded file's lines (resumable, see DecisionFilesService.process).
 * A run that throws is retried by BullMQ; on the last attempt the file is marked FAILED first, so the bank sees it on
 * GET …/decision-files/{id} and not only in the queue. The cause stays in the logs.
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
      if (ctx.attempt >= LAST_ATTEMPT) await this.files.fail(payload.fileId, `processing failed after ${ctx.attempt} attempts`);
      throw error;
    }
  }
}
