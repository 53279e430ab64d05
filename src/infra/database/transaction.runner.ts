import { Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

const DEADLOCK = 1213; // ER_LOCK_DEADLOCK: InnoDB rolled the transaction back; running it again is safe.
const MAX_ATTEMPTS = 4;

function isDeadlock(error: unknown): boolean {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === DEADLOCK || e?.driverError?.errno === DEADLOCK;
}

/**
 * One transaction per use case, opened here and nowhere else. The manager is passed explicitly to every
 * repository call so that nothing silently escapes the transaction; deadlocks are retried with a short jitter.
 */
@Injectable()
export class TransactionRunner {
  private readonly logger = new Logger(TransactionRunner.name);

  constructor(private readonly dataSource: DataSource) {}

  async run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('READ COMMITTED', work);
      } catch (error) {
        if (!isDeadlock(error) || attempt >= MAX_ATTEMPTS) throw error;
        this.logger.warn({ attempt }, 'deadlock, retrying transaction');
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  }
}
