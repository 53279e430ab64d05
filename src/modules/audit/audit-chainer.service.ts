import { Injectable } from '@nestjs/common';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { AuditRepository } from './audit.repository';
import { AuditEvent, hashEntry } from './audit-entry';

export const CHAIN_BATCH_SIZE = 2000;

/**
 * Links committed inbox rows into the chain: gapless seq, prev_hash, hash. The head row lock makes one chainer
 * the writer at a time (others skip, not wait); events, inbox deletion and the new head commit together.
 */
@Injectable()
export class AuditChainer {
  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: AuditRepository,
  ) {}

  /** Chains up to `limit` inbox rows in id order; returns how many (0 when idle or another chainer is busy). */
  async chainBatch(limit = CHAIN_BATCH_SIZE): Promise<number> {
    return this.tx.run(async (m) => {
      const head = await this.repository.lockHead(m);
      if (!head) return 0;
      const rows = await this.repository.readInbox(m, limit);
      if (rows.length === 0) return 0;
      let { seq, hash } = head;
      const events: AuditEvent[] = rows.map(({ id: _id, ...entry }) => {
        const unhashed = { ...entry, seq: ++seq, prevHash: hash };
        hash = hashEntry(unhashed);
        return { ...unhashed, hash };
      });
      await this.repository.commitChained(
        m,
        events,
        rows.map((r) => r.id),
      );
      return rows.length;
    });
  }

  /** Chains until the inbox is empty (CLI, tests, shutdown). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.chainBatch();
      total += n;
      if (n === 0) return total;
    }
  }
}
