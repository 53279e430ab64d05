import { AsyncLocalStorage } from 'node:async_hooks';

import { EntityManager } from 'typeorm';

/**
 * Something that must commit with every transaction a piece of work runs, without that work knowing of it: the
 * idempotency key of the request that runs the work marks itself "effect committed" in the effect's own transaction,
 * so a crash or a failed write after the commit can never make the request run again (docs/RELIABILITY.md).
 */
export interface TransactionParticipant {
  /** The last statement of each transaction run under it, before COMMIT (after the work, so it adds no lock wait). */
  beforeCommit(m: EntityManager): Promise<void>;
  /** Told after a transaction that ran beforeCommit committed. */
  afterCommit(): void;
}

const participants = new AsyncLocalStorage<TransactionParticipant>();

/** Runs `work` (and everything it starts) with `participant` joining every TransactionRunner transaction. */
export const withTransactionParticipant = <T>(participant: TransactionParticipant, work: () => T): T => participants.run(participant, work);

/** The participant of the work running now, if any. */
export const currentTransactionParticipant = (): TransactionParticipant | undefined => participants.getStore();
