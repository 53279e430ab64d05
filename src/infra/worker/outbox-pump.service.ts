import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfigService } from '../config/app-config';
import { OutboxRelay } from '../outbox/outbox.relay';

/** Drives the outbox relay (continuously while there is work) and the sweeper (periodically) in the worker role. */
@Injectable()
export class OutboxPump implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(OutboxPump.name);
  private stopped = false;
  private loops: Promise<void>[] = [];
  private wake: Array<() => void> = [];

  constructor(
    private readonly relay: OutboxRelay,
    private readonly config: AppConfigService,
  ) {}

  onApplicationBootstrap() {
    const { relayIntervalMs, sweepIntervalMs, batchSize, sweepAfterSeconds } = this.config.values.outbox;
    this.loops = [
      this.loop('relay', relayIntervalMs, async () => (await this.relay.relayBatch(batchSize)) === batchSize),
      this.loop('sweep', sweepIntervalMs, async () => (await this.relay.sweep(sweepAfterSeconds, batchSize)).checked === batchSize),
    ];
  }

  // Stops before the database pool closes (onApplicationShutdown), so no step runs on a closed pool.
  async onModuleDestroy() {
    this.stopped = true;
    this.wake.forEach((resolve) => resolve());
    await Promise.all(this.loops);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = self.wake.filter((w) => w !== done);
        resolve();
      }
      this.wake.push(done);
    });
  }

  /** Runs `step` again at once while it reports a full batch, else waits `intervalMs`. Errors are logged, never fatal. */
  private async loop(name: string, intervalMs: number, step: () => Promise<boolean>): Promise<void> {
    while (!this.stopped) {
      let more = false;
      try {
        more = await step();
      } catch (error) {
        this.logger.error({ loop: name, err: (error as Error).message }, 'outbox loop step failed');
      }
      if (!more && !this.stopped) await this.sleep(intervalMs);
    }
  }
}
