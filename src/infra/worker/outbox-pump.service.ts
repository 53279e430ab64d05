import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { OutboxRelay } from '../outbox/outbox.relay';
import { JobWorkers } from './job-workers.service';
import { PollingLoop } from './polling-loop';

/**
 * Drives the outbox relay (continuously while there is work) and the sweeper (periodically) in the worker role, and
 * hands the jobs the sweeper found abandoned by BullMQ to their owners' @JobAbandonedHandler.
 */
@Injectable()
export class OutboxPump implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OutboxPump.name);
  private readonly relayLoop = new PollingLoop('outbox-relay', this.logger);
  private readonly sweepLoop = new PollingLoop('outbox-sweep', this.logger);

  constructor(
    private readonly relay: OutboxRelay,
    private readonly config: AppConfigService,
    private readonly jobs: JobWorkers,
  ) {}

  onApplicationBootstrap() {
    const { relayIntervalMs, sweepIntervalMs, batchSize, sweepAfterSeconds } = this.config.values.outbox;
    this.relayLoop.start(relayIntervalMs, async () => (await this.relay.relayBatch(batchSize)) === batchSize);
    this.sweepLoop.start(sweepIntervalMs, async () => {
      const swept = await this.relay.sweep(sweepAfterSeconds, batchSize);
      for (const job of swept.abandoned) {
        try {
          await this.jobs.abandoned(job);
          await this.relay.markAbandoned(job);
        } catch (error) {
          this.logger.error({ outboxId: job.outboxId, err: (error as Error).message }, 'abandoned job left ENQUEUED for the next sweep');
        }
      }
      return swept.checked === batchSize;
    });
  }

  // Stops before the database pool closes (onApplicationShutdown), so no step runs on a closed pool.
  async onModuleDestroy() {
    await Promise.all([this.relayLoop.stop(), this.sweepLoop.stop()]);
  }
}
