import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { CryptoService } from '../../infra/crypto/crypto.service';
import { AuditEntryInput } from './audit-entry';
import { AuditRepository } from './audit.repository';

/**
 * The one way every module records an audit entry. Entries go to the insert-only inbox; with `manager` they
 * commit (or roll back) with the caller's state change. The chainer links them into the hash chain shortly after,
 * so appends take no lock on the chain head and scale with the number of writers.
 */
@Injectable()
export class AuditWriter {
  constructor(
    private readonly repository: AuditRepository,
    private readonly crypto: CryptoService,
  ) {}

  async append(entry: AuditEntryInput, manager?: EntityManager): Promise<void> {
    await this.repository.insertInbox([entry], manager);
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
