import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { GroupedCalls } from '../../common/grouped-calls';
import { CryptoService } from '../../infra/crypto/crypto.service';
import { AuditRepository } from './audit.repository';
import { AuditEntryInput } from './audit-entry';

/** Most entries one group commit writes in a single INSERT (bounds the statement size). */
export const GROUP_COMMIT_MAX_ENTRIES = 500;
/**
 * Group INSERTs a process keeps in flight at once. With one, every group waited for the previous group's redo-log
 * flush; with a few, the next group is written while the last one's commit is flushed, and InnoDB flushes
 * concurrent commits together.
 */
export const GROUP_COMMIT_PIPELINE = 3;

/**
 * The one way every module records an audit entry. Entries go to the insert-only inbox; with `manager` they
 * commit (or roll back) with the caller's state change. The chainer links them into the hash chain shortly after,
 * so appends take no lock on the chain head and scale with the number of writers.
 *
 * Appends without a manager are group-committed (GroupedCalls): while INSERTs are in flight, the appends that arrive
 * meanwhile wait and go together in the next one. Each promise still resolves only once its entry is committed, but the
 * process pays one commit (one redo-log fsync) per group instead of per entry — the bench measured ~1,800
 * appends/s with one autocommit INSERT per entry (docs/BENCHMARKS.md).
 */
@Injectable()
export class AuditWriter {
  private readonly groups: GroupedCalls<AuditEntryInput, undefined>;

  constructor(
    private readonly repository: AuditRepository,
    private readonly crypto: CryptoService,
  ) {
    this.groups = new GroupedCalls({
      run: async (entries) => {
        await this.repository.insertInbox(entries);
        return entries.map(() => undefined);
      },
      maxGroup: GROUP_COMMIT_MAX_ENTRIES,
      concurrency: GROUP_COMMIT_PIPELINE,
      onGroupFailure: 'run-each-alone',
    });
  }

  async append(entry: AuditEntryInput, manager?: EntityManager): Promise<void> {
    if (manager) return this.repository.insertInbox([entry], manager);
    await this.groups.call(entry);
  }

  /** Many entries in one statement, for bulk paths. */
  async appendMany(entries: AuditEntryInput[], manager?: EntityManager): Promise<void> {
    await this.repository.insertInbox(entries, manager);
  }

  /** The keyed hash that stands for a platform user in audit entries (and in compliance searches by user). */
  subjectHash(platformUserId: string): string {
    return this.crypto.keyedHash('audit.subject-user', platformUserId);
  }
}
