import { Logger } from '@nestjs/common';

/**
 * A background loop for the worker role: runs `step` again at once while it reports more work, otherwise sleeps
 * `intervalMs`. A failing step is logged and retried on the next tick, never fatal. stop() wakes a sleeping loop
 * and resolves once the step in progress has finished.
 */
export class PollingLoop {
  private stopped = false;
  private running?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly name: string,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number, step: () => Promise<boolean>): void {
    this.running = this.run(intervalMs, step);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.running;
  }

  private async run(intervalMs: number, step: () => Promise<boolean>): Promise<void> {
    while (!this.stopped) {
      let more = false;
      try {
        more = await step();
      } catch (error) {
        this.logger.error({ loop: this.name, err: (error as Error).message }, 'background loop step failed');
      }
      if (!more && !this.stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, intervalMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }
}
