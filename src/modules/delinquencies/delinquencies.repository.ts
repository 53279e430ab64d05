import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

import { timelineAfter, TimelineKey } from '../../common/timeline';
import { toDateText } from '../prescreening/criteria/calendar';
import { DelinquencyReport } from './delinquency-input';

/** A referral a bank may report on: its own and APPROVED (a final state: it cannot change under the report). */
export interface ReportableReferral {
  id: string;
  userId: string;
  /** UTC date of the decision's decidedAt (the stored decision time when the decision has none). */
  decidedOn: string;
}

export interface DelinquencyRow {
  id: string;
  referralId: string;
  report: DelinquencyReport;
  createdAt: Date;
}

export interface NewDelinquency {
  partnerId: string;
  userId: string;
  referralId: string;
  report: DelinquencyReport;
}

/** The delinquency use case's SQL. Reads of referrals take the partner id. */
@Injectable()
export class DelinquenciesRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** The partner's APPROVED referrals among `ids`, in one query; the others (missing, another's, not approved) are absent. */
  async reportable(partnerId: string, ids: string[]): Promise<Map<string, ReportableReferral>> {
    if (ids.length === 0) return new Map();
    const rows: { id: string; user_id: string; decided_at: Date | null; stated: string | null }[] = await this.dataSource.query(
      `SELECT id, user_id, decided_at, JSON_UNQUOTE(JSON_EXTRACT(decision, '$.decidedAt')) AS stated
         FROM referrals WHERE id IN (?) AND partner_id = ? AND status = 'APPROVED'`,
      [ids, partnerId],
    );
    const result = new Map<string, ReportableReferral>();
    for (const r of rows) {
      const stated = r.stated ? new Date(r.stated) : null;
      const decided = stated && !Number.isNaN(stated.getTime()) ? stated : r.decided_at;
      // An APPROVED referral always has a decision; without one nothing bounds asOf from below.
      result.set(String(r.id), {
        id: String(r.id),
        userId: r.user_id,
        decidedOn: decided ? decided.toISOString().slice(0, 10) : '0000-00-00',
      });
    }
    return result;
  }

  /** Which of `ids` exist under another partner (answered 404 like missing ones, but audited as probing). */
  async ownedByOthers(partnerId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows: { id: string }[] = await this.dataSource.query('SELECT id FROM referrals WHERE id IN (?) AND partner_id <> ?', [
      ids,
      partnerId,
    ]);
    return rows.map((r) => String(r.id));
  }

  /** Every report on these referrals (a referral has a handful), read through the unique key's leading column. */
  async ofReferrals(m: EntityManager, referralIds: string[]): Promise<DelinquencyRow[]> {
    if (referralIds.length === 0) return [];
    const rows: { id: string; referral_id: string; dpd: number; amount_overdue: string; as_of: Date | string; created_at: Date }[] =
      await m.query('SELECT id, referral_id, dpd, amount_overdue, as_of, created_at FROM partner_delinquencies WHERE referral_id IN (?)', [
        referralIds,
      ]);
    return rows.map((r) => ({
      id: String(r.id),
      referralId: String(r.referral_id),
      report: { dpd: Number(r.dpd), amountOverdue: String(r.amount_overdue), asOf: toDateText(r.as_of) },
      createdAt: new Date(r.created_at),
    }));
  }

  /**
   * Inserts the reports in one statement. A copy another transaction inserted first fails the whole statement with
   * a duplicate key (InnoDB rolls back the statement only, after that transaction committed): the caller then
   * inserts one by one with insertOne.
   */
  async insertMany(m: EntityManager, rows: NewDelinquency[]): Promise<void> {
    if (rows.length === 0) return;
    await m.query('INSERT INTO partner_delinquencies (partner_id, user_id, referral_id, dpd, amount_overdue, as_of) VALUES ?', [
      rows.map((r) => [r.partnerId, r.userId, r.referralId, r.report.dpd, r.report.amountOverdue, r.report.asOf]),
    ]);
  }

  /** Inserts one report; false when the same report is already stored (by another transaction that committed). */
  async insertOne(m: EntityManager, row: NewDelinquency): Promise<boolean> {
    try {
      await this.insertMany(m, [row]);
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  /** The reports on the user by any bank, in (created_at, id) order after `after`: the compliance timeline's part. */
  async timelineOfUser(userId: string, after: TimelineKey | undefined, limit: number): Promise<DelinquencyTimelineRow[]> {
    const cond = timelineAfter('d.created_at', 'd.id', DELINQUENCY_KIND, after);
    return this.dataSource.query(
      `SELECT d.id, d.created_at AS at, d.referral_id, d.dpd, d.amount_overdue, DATE_FORMAT(d.as_of, '%Y-%m-%d') AS as_of, p.code AS partner_code
         FROM partner_delinquencies d JOIN partners p ON p.id = d.partner_id
        WHERE d.user_id = ? AND ${cond.sql}
        ORDER BY d.created_at, d.id LIMIT ?`,
      [userId, ...cond.params, limit],
    );
  }
}

const DUPLICATE_KEY = 1062; // ER_DUP_ENTRY

export function isDuplicateKey(error: unknown): boolean {
  const e = error as { errno?: number; driverError?: { errno?: number } };
  return e?.errno === DUPLICATE_KEY || e?.driverError?.errno === DUPLICATE_KEY;
}

export const DELINQUENCY_KIND = 'delinquency';

export interface DelinquencyTimelineRow {
  id: string;
  at: Date;
  referral_id: string | null;
  dpd: number;
  amount_overdue: string;
  as_of: string;
  partner_code: string;
}
