import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { JobWorkers } from '../../infra/worker/job-workers.service';
import { AuditChainer, CHAIN_BATCH_SIZE } from './audit-chainer.service';

/** Pause between polls when the inbox was empty; a full batch is followed at once by the next. */
export const CHAIN_IDLE_MS = 100;

/**
 * Runs the chainer continuously in the worker role (like OutboxPump). Every worker runs one; the head row lock
 * lets exactly one of them chain at a time, so a worker dying mid-batch only rolls its batch back.
 */
@Injectable()
export class AuditChainPump implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AuditChainPump.name);
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(
    private readonly chainer: AuditChainer,
    private readonly moduleRef: ModuleRef,
  ) {}

  onApplicationBootstrap() {
    if (!this.isWorkerRole()) return;
    this.loop = this.run();
  }

  // Stops before the database pool closes, so no batch runs on a closed pool.
  async onModuleDestroy() {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  /** The worker role is wherever the job workers run; WorkerModule is infrastructure and knows nothing of audit. */
  private isWorkerRole(): boolean {
    try {
      return !!this.moduleRef.get(JobWorkers, { strict: false });
    } catch {
      return false;
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let chained = 0;
      try {
        chained = await this.chainer.chainBatch(CHAIN_BATCH_SIZE);
      } catch (error) {
        this.logger.error({ err: (error as Error).message }, 'audit chaining step failed');
      }
      if (chained < CHAIN_BATCH_SIZE && !this.stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, CHAIN_IDLE_MS);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }
}
