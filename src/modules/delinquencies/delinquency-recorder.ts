import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { DomainError, NotFoundError, ValidationFailedError } from '../../common/errors';
import { GroupedCalls } from '../../common/grouped-calls';
import { keyOf, toPublicId } from '../../common/public-id';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { BulkLine } from '../../infra/http/bulk-lines';
import { InternalLineError, lineFailed, LineResult, lineSucceeded, notJsonLine } from '../../infra/http/line-results';
import { AuditWriter } from '../audit/audit.writer';
import { AuditEntryInput } from '../audit/audit-entry';
import { DelinquenciesRepository, DelinquencyRow, isDuplicateKey as isDuplicate, NewDelinquency } from './delinquencies.repository';
import { asOfBeforeDecision, DelinquencyReport, parseDelinquency, reportKey } from './delinquency-input';

/** The bank reporting, and the request it reports through (for the audit entries). */
export interface ReportingPartner {
  partnerId: string;
  partnerCode: string;
  requestId: string;
  clientIp?: string;
}

/** The answer to a report (API.md). */
export interface DelinquencyView {
  id: string;
  referralId: string;
  dpd: number;
  amountOverdue: string;
  asOf: string;
  createdAt: string;
}

/** One report to store, checked: the referral is the partner's own APPROVED one. */
interface Write {
  partner: ReportingPartner;
  row: NewDelinquency;
}

/** Most reports one write transaction takes (bounds the IN list and the multi-row INSERT). */
const WRITE_GROUP_MAX = 200;
/** Write transactions a process keeps in flight (the pool has 10 connections; leave room for other work). */
const WRITE_GROUPS_IN_FLIGHT = 2;

/**
 * Records banks' delinquency reports: the one function behind the single call and the NDJSON bulk call, so a line
 * always gets the answer it would have had alone. Lines are validated on their own, the partner's referrals for all
 * lines are read in one query, and the writes of every request in the process are group-committed (GroupedCalls):
 * one transaction per group stores the new reports and their audit entries, and finds the ones already stored.
 */
@Injectable()
export class DelinquencyRecorder {
  private readonly logger = new Logger(DelinquencyRecorder.name);
  private readonly writes: GroupedCalls<Write, DelinquencyRow>;

  constructor(
    private readonly tx: TransactionRunner,
    private readonly repository: DelinquenciesRepository,
    private readonly audit: AuditWriter,
  ) {
    this.writes = new GroupedCalls({
      run: (group) => this.tx.run((m) => this.write(m, group)),
      maxGroup: WRITE_GROUP_MAX,
      concurrency: WRITE_GROUPS_IN_FLIGHT,
      onGroupFailure: 'run-each-alone',
      onRetryEach: (error, size) =>
        this.logger.warn({ size, err: (error as Error).message }, 'delinquency group failed; retrying its reports one by one'),
    });
  }

  async report(partner: ReportingPartner, lines: BulkLine[]): Promise<LineResult<DelinquencyView>[]> {
    const now = new Date();
    const results = new Map<number, LineResult<DelinquencyView>>();
    const fail = (line: number, referralId: string | null, error: DomainError) =>
      results.set(line, lineFailed(line, referralId, error, partner.requestId));
    type Pending = { line: number; referralId: string; key: string; report: DelinquencyReport };
    const pending: Pending[] = [];
    for (const l of lines) {
      if (l.notJson) {
        fail(l.line, null, notJsonLine());
        continue;
      }
      const parsed = parseDelinquency(l.value, now);
      if (!parsed.ok) {
        fail(l.line, parsed.referralId ?? null, new ValidationFailedError(parsed.errors));
        continue;
      }
      const key = keyOf('ref', parsed.referralId);
      if (!key) fail(l.line, parsed.referralId, new NotFoundError('referral'));
      else pending.push({ line: l.line, referralId: parsed.referralId, key, report: parsed.report });
    }

    const keys = [...new Set(pending.map((p) => p.key))];
    const referrals = await this.repository.reportable(partner.partnerId, keys);
    await this.auditProbes(
      partner,
      keys.filter((k) => !referrals.has(k)),
    );
    const writes: Promise<void>[] = [];
    for (const p of pending) {
      const referral = referrals.get(p.key);
      if (!referral) {
        fail(p.line, p.referralId, new NotFoundError('referral'));
      } else if (asOfBeforeDecision(p.report, referral.decidedOn)) {
        fail(
          p.line,
          p.referralId,
          new ValidationFailedError([{ field: 'asOf', message: 'may not be before the decision on the referral' }]),
        );
      } else {
        const row = { partnerId: partner.partnerId, userId: referral.userId, referralId: p.key, report: p.report };
        writes.push(
          this.writes.call({ partner, row }).then(
            (stored) => void results.set(p.line, lineSucceeded(p.line, p.referralId, 201, viewOf(stored))),
            (error: unknown) => {
              this.logger.error({ requestId: partner.requestId, err: error }, 'delinquency report failed');
              fail(p.line, p.referralId, new InternalLineError());
            },
          ),
        );
      }
    }
    await Promise.all(writes);
    return lines.map((l) => results.get(l.line)!);
  }

  /**
   * One group's transaction: reports already stored are answered from their row; new ones are inserted (sorted, so
   * concurrent groups take the unique key's locks in one order) and audited with the insert. Returns one row per
   * write, in order.
   */
  private async write(m: EntityManager, group: Write[]): Promise<DelinquencyRow[]> {
    const referralIds = [...new Set(group.map((w) => w.row.referralId))];
    const stored = async () =>
      new Map((await this.repository.ofReferrals(m, referralIds)).map((r) => [reportKey(r.referralId, r.report), r]));
    const before = await stored();
    const fresh = new Map<string, Write>();
    for (const w of group) {
      const k = reportKey(w.row.referralId, w.row.report);
      if (!before.has(k) && !fresh.has(k)) fresh.set(k, w);
    }
    const toInsert = [...fresh.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    let inserted = toInsert;
    try {
      await this.repository.insertMany(
        m,
        toInsert.map(([, w]) => w.row),
      );
    } catch (error) {
      if (!isDuplicate(error)) throw error;
      // Another transaction stored one of them first and has committed: insert one by one, keeping ours.
      inserted = [];
      for (const entry of toInsert) if (await this.repository.insertOne(m, entry[1].row)) inserted.push(entry);
    }
    // Read again after any insert attempt: ours have their ids now, and copies another transaction stored are seen.
    const after = toInsert.length ? await stored() : before;
    const audits: AuditEntryInput[] = inserted.map(([k, w]) => {
      const row = after.get(k)!;
      return {
        actorType: 'partner',
        actorId: w.partner.partnerCode,
        action: 'delinquency.reported',
        resourceType: 'delinquency',
        resourceId: toPublicId('dlq', row.id),
        subjectUserHash: this.audit.subjectHash(w.row.userId),
        partnerCode: w.partner.partnerCode,
        requestId: w.partner.requestId,
        clientIp: w.partner.clientIp,
        outcome: 'SUCCESS',
        httpStatus: 201,
        // Ids, codes and the bank's figures only: the user is the subject hash.
        details: { referralId: toPublicId('ref', row.referralId), dpd: row.report.dpd, asOf: row.report.asOf },
      };
    });
    if (audits.length) await this.audit.appendMany(audits, m);
    return group.map((w) => after.get(reportKey(w.row.referralId, w.row.report))!);
  }

  private async auditProbes(partner: ReportingPartner, keys: string[]): Promise<void> {
    const others = await this.repository.ownedByOthers(partner.partnerId, keys);
    if (!others.length) return;
    await this.audit.appendMany(
      others.map((id) => ({
        actorType: 'partner' as const,
        actorId: partner.partnerCode,
        action: 'referral.access.denied',
        resourceType: 'referral',
        resourceId: toPublicId('ref', id),
        partnerCode: partner.partnerCode,
        requestId: partner.requestId,
        clientIp: partner.clientIp,
        outcome: 'DENIED' as const,
        httpStatus: 404,
      })),
    );
  }
}

export const viewOf = (r: DelinquencyRow): DelinquencyView => ({
  id: toPublicId('dlq', r.id),
  referralId: toPublicId('ref', r.referralId),
  dpd: r.report.dpd,
  amountOverdue: r.report.amountOverdue,
  asOf: r.report.asOf,
  createdAt: r.createdAt.toISOString(),
});
