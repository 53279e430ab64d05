import { Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { currentTransactionParticipant } from './transaction-participant';

const DEADLOCK = 1213; // ER_LOCK_DEADLOCK: InnoDB rolled the transaction back; running it again is safe.
const MAX_ATTEMPTS = 4;

/**
 * Pooled connections already set to READ COMMITTED for their session. Setting it once per connection rather than
 * per transaction (TypeORM's `SET TRANSACTION ISOLATION LEVEL` before every `START TRANSACTION`) saves a round trip
 * on every use case; a `SET TRANSACTION` elsewhere (the audit verifier's REPEATABLE READ) only affects its own
 * transaction and leaves the session level alone.
 */
const readCommittedSessions = new WeakSet<object>();

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
        return await this.once(work);
      } catch (error) {
        if (!isDeadlock(error) || attempt >= MAX_ATTEMPTS) throw error;
        this.logger.warn({ attempt }, 'deadlock, retrying transaction');
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  private async once<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const connection = (await runner.connect()) as object;
      if (!readCommittedSessions.has(connection)) {
        await runner.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
        readCommittedSessions.add(connection);
      }
      await runner.startTransaction();
      const participant = currentTransactionParticipant();
      try {
        const result = await work(runner.manager);
        await participant?.beforeCommit(runner.manager);
        await runner.commitTransaction();
        participant?.afterCommit();
        return result;
      } catch (error) {
        // The original error matters, not a failed rollback of a broken connection.
        await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      }
    } finally {
      await runner.release();
    }
  }
}
