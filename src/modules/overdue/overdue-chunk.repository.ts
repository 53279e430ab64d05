import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';

import { UserIdRange, userIdRangeSql } from '../offers/offers.repository';
import { accountStatusSql, dpdBucketSql, OverdueRecordRow, RECORD_COLUMNS } from './overdue-record';
import { ScanCounts } from './overdue-scan';

/** The connection-local table a chunk evaluates its cardholders into (alias `e`), read by the chunk's later statements. */
const EVAL = 'overdue_chunk_eval';

/**
 * What the scan does for one cardholder referral on date D (API.md "Overdue sharing"), decided in SQL:
 * NOTICE a new notice; CANCEL the pending notice (repaid); WITHDRAW the pending notice (consent revoked: suppressed);
 * NEW / UPDATED / CURED a record; SUPPRESS a notice or record withheld because the consent is revoked.
 */
export type ChunkAction = 'NOTICE' | 'CANCEL' | 'WITHDRAW' | 'NEW' | 'UPDATED' | 'CURED' | 'SUPPRESS';

const RECORD_ACTIONS = `('NEW', 'UPDATED', 'CURED')`;

/** A notice the chunk created or cancelled, for its audit entry and its notification job. */
export interface ChunkNotice {
  noticeId: string;
  userId: string;
  partnerCode: string;
  referralId: string;
  action: 'NOTICE' | 'CANCEL' | 'WITHDRAW';
}

/** A record the chunk made, with what its SET, disclosure and audit entry need. */
export interface ChunkRecord extends OverdueRecordRow {
  partner_code: string;
  consent_id: string;
}

/**
 * The set-based work of one overdue-scan chunk, every statement in the caller's chunk transaction (OverdueScanExecution).
 * The cardholders of the range are evaluated once into EVAL with the repayment state known for D and their sharing
 * state (overdue_accounts), the action of each is decided by one UPDATE, and each kind of write is one statement
 * over EVAL. The UPDATEs are driven from EVAL (STRAIGHT_JOIN) into the primary key of the table they change, so they lock
 * exactly the rows they change: a plan scanning the changed table would lock other chunks' rows too and make the
 * concurrent chunks of a scan wait on one another. Only cardholders that may need something are evaluated (most
 * cardholders are current, and cost their index reads only).
 */
@Injectable()
export class OverdueChunkRepository {
  /**
   * Fills EVAL for the range and decides every action. The state for D is credit_records' own when its
   * current_dpd_as_of ≤ D (the common case: a scan for today), else the latest repayment_states row with as_of ≤ D
   * (a catch-up scan, one index dive each); a user with neither is not judged. IF() evaluates only the branch it takes.
   * Only cardholders whose state for D may lead to an action are evaluated, and the joins are in the written order
   * (STRAIGHT_JOIN): the range on the covering cardholder index, their credit record, sharing state and partner, where
   * the filter applies; only then the notice, referral and consent, whose pages are mostly not in memory. Left out:
   * the current and the late below the threshold with nothing pending, and reports whose bucket is unchanged, for
   * which every rule below decides nothing. A catch-up state (credit record newer than D) is always evaluated.
   */
  async evaluate(m: EntityManager, range: UserIdRange, asOf: string): Promise<void> {
    await m.query(`DROP TEMPORARY TABLE IF EXISTS ${EVAL}`);
    await m.query(`
      CREATE TEMPORARY TABLE ${EVAL} (
        referral_id BIGINT UNSIGNED NOT NULL,
        user_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        partner_id BIGINT UNSIGNED NOT NULL,
        partner_code VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
        user_ref CHAR(43) CHARACTER SET ascii NOT NULL,
        consent_id BIGINT UNSIGNED NOT NULL,
        revoked TINYINT NOT NULL,
        threshold_days INT NOT NULL,
        notice_days INT NOT NULL,
        state_as_of DATE NULL,
        dpd INT NULL,
        overdue_amount DECIMAL(14,2) NULL,
        account_status VARCHAR(16) NULL,
        notice_id BIGINT UNSIGNED NULL,
        share_on DATE NULL,
        notice_sent_at DATETIME(3) NULL,
        last_seq INT UNSIGNED NOT NULL,
        last_bucket VARCHAR(8) NULL,
        overdue_since DATE NULL,
        action VARCHAR(8) NULL,
        PRIMARY KEY (referral_id)
      ) ENGINE=InnoDB`);
    const where = userIdRangeSql('ch.user_id', range);
    const fromHistory = (column: string) =>
      `(SELECT rs.${column} FROM repayment_states rs WHERE rs.user_id = ch.user_id AND rs.as_of <= ? ORDER BY rs.as_of DESC LIMIT 1)`;
    await m.query(
      `INSERT INTO ${EVAL} (referral_id, user_id, partner_id, partner_code, user_ref, consent_id, revoked, threshold_days, notice_days,
              state_as_of, dpd, overdue_amount, account_status, notice_id, share_on, notice_sent_at, last_seq, last_bucket, overdue_since)
       SELECT STRAIGHT_JOIN ch.referral_id, ch.user_id, ch.partner_id, p.code, r.user_ref, r.consent_id, c.status = 'REVOKED',
              p.overdue_threshold_days, p.notice_days,
              IF(cr.current_dpd_as_of <= ?, cr.current_dpd_as_of, ${fromHistory('as_of')}),
              IF(cr.current_dpd_as_of <= ?, cr.current_dpd, ${fromHistory('current_dpd')}),
              IF(cr.current_dpd_as_of <= ?, cr.overdue_amount, ${fromHistory('overdue_amount')}),
              a.status, a.notice_id, n.share_on, n.sent_at, COALESCE(a.last_seq, 0), a.dpd_bucket, a.overdue_since
         FROM cardholders ch
         JOIN credit_records cr ON cr.user_id = ch.user_id
         LEFT JOIN overdue_accounts a ON a.referral_id = ch.referral_id
         JOIN partners p ON p.id = ch.partner_id
         LEFT JOIN overdue_notices n ON n.id = a.notice_id
         JOIN referrals r ON r.id = ch.referral_id
         JOIN consents c ON c.id = r.consent_id
        WHERE ${where.sql}
          AND (cr.current_dpd_as_of > ?
               OR a.status = 'NOTICE_PENDING'
               OR (a.status = 'REPORTED' AND NOT (cr.current_dpd <> 0 AND ${dpdBucketSql('cr.current_dpd')} <=> a.dpd_bucket))
               OR (COALESCE(a.status, 'CLEAR') = 'CLEAR' AND cr.current_dpd >= p.overdue_threshold_days))`,
      [asOf, asOf, asOf, asOf, asOf, asOf, ...where.params, asOf],
    );
    // The rules of API.md, in order. A pending notice is shared only once its sender has delivered it (sent_at).
    await m.query(
      `UPDATE ${EVAL} SET action = CASE
         WHEN dpd IS NULL THEN NULL
         WHEN account_status = 'NOTICE_PENDING' THEN CASE
           WHEN dpd = 0 THEN 'CANCEL'
           WHEN revoked = 1 THEN 'WITHDRAW'
           WHEN ? >= share_on AND dpd >= threshold_days AND notice_sent_at IS NOT NULL THEN 'NEW'
           ELSE NULL END
         WHEN account_status = 'REPORTED' THEN CASE
           WHEN dpd <> 0 AND ${dpdBucketSql('dpd')} <=> last_bucket THEN NULL
           WHEN revoked = 1 THEN 'SUPPRESS'
           WHEN dpd = 0 THEN 'CURED'
           ELSE 'UPDATED' END
         WHEN dpd >= threshold_days THEN IF(revoked = 1, 'SUPPRESS', 'NOTICE')
         ELSE NULL END`,
      [asOf],
    );
  }

  /** Cardholder rows in the range (the chunk's `cardholders` count: everyone judged, acted on or not). */
  async countCardholders(m: EntityManager, range: UserIdRange): Promise<number> {
    const where = userIdRangeSql('user_id', range);
    const [row]: { n: string }[] = await m.query(`SELECT COUNT(*) AS n FROM cardholders WHERE ${where.sql}`, where.params);
    return Number(row.n);
  }

  /** Pending notices repaid (CANCEL) or whose consent was revoked (WITHDRAW) become CANCELLED; their accounts CLEAR. */
  async cancelNotices(m: EntityManager, asOf: string, scanId: string): Promise<ChunkNotice[]> {
    const cancelled: ChunkNotice[] = (
      await m.query(
        `SELECT notice_id, user_id, partner_code, referral_id, action FROM ${EVAL} WHERE action IN ('CANCEL', 'WITHDRAW') ORDER BY referral_id`,
      )
    ).map(toChunkNotice);
    if (!cancelled.length) return cancelled;
    await m.query(
      `UPDATE ${EVAL} e STRAIGHT_JOIN overdue_notices n ON n.id = e.notice_id
          SET n.status = 'CANCELLED', n.pending_key = NULL, n.cancel_reason = IF(e.action = 'CANCEL', 'REPAID', 'CONSENT_REVOKED'),
              n.resolved_on = ?, n.resolved_scan_id = ?, n.resolved_at = NOW(3)
        WHERE e.action IN ('CANCEL', 'WITHDRAW') AND n.status = 'PENDING'`,
      [asOf, scanId],
    );
    await m.query(
      `UPDATE ${EVAL} e STRAIGHT_JOIN overdue_accounts a ON a.referral_id = e.referral_id
          SET a.status = 'CLEAR', a.notice_id = NULL
        WHERE e.action IN ('CANCEL', 'WITHDRAW')`,
    );
    return cancelled;
  }

  /**
   * New notices (noticeDate = D, shareOn = D + the partner's noticeDays) and their accounts NOTICE_PENDING. The unique
   * pending key allows one pending notice per referral, so a state that disagrees fails the chunk instead of doubling.
   */
  async createNotices(m: EntityManager, asOf: string, scanId: string): Promise<ChunkNotice[]> {
    const result: { affectedRows: number } = await m.query(
      `INSERT INTO overdue_notices (referral_id, partner_id, user_id, dpd, overdue_amount, state_as_of, notice_date, share_on, scan_id)
       SELECT referral_id, partner_id, user_id, dpd, COALESCE(overdue_amount, 0), state_as_of, ?, DATE_ADD(?, INTERVAL notice_days DAY), ?
         FROM ${EVAL} WHERE action = 'NOTICE' ORDER BY referral_id`,
      [asOf, asOf, scanId],
    );
    if (!result.affectedRows) return [];
    await m.query(
      `INSERT INTO overdue_accounts (referral_id, partner_id, user_id, status, notice_id)
       SELECT e.referral_id, e.partner_id, e.user_id, 'NOTICE_PENDING', n.id
         FROM ${EVAL} e JOIN overdue_notices n ON n.referral_id = e.referral_id AND n.pending_key = 1
        WHERE e.action = 'NOTICE'
       ON DUPLICATE KEY UPDATE status = 'NOTICE_PENDING', notice_id = VALUES(notice_id), dpd_bucket = NULL, overdue_since = NULL`,
    );
    const rows: Record<string, string>[] = await m.query(
      `SELECT n.id AS notice_id, e.user_id, e.partner_code, e.referral_id, e.action
         FROM ${EVAL} e JOIN overdue_notices n ON n.referral_id = e.referral_id AND n.pending_key = 1
        WHERE e.action = 'NOTICE' ORDER BY n.id`,
    );
    return rows.map(toChunkNotice);
  }

  /**
   * The records (NEW, UPDATED, CURED) in one INSERT … SELECT, numbered last_seq + 1 per referral (unique: a chunk run
   * twice cannot add a second), then the shared notices and the accounts moved on. overdueSince is fixed by the NEW
   * record (the first day past due by the state's DPD: asOf − (dpd − 1)) and carried by the UPDATED and CURED
   * records of the same delinquency. Returns the records in id order (a partner's feed order).
   */
  async createRecords(m: EntityManager, asOf: string, scanId: string): Promise<ChunkRecord[]> {
    const cured = `e.action = 'CURED'`;
    const result: { affectedRows: number } = await m.query(
      `INSERT INTO overdue_records (partner_id, referral_id, user_id, user_ref, seq, status, dpd, dpd_bucket, account_status,
              overdue_amount, overdue_since, state_as_of, notice_id, notice_sent_at, report_date, scan_id)
       SELECT e.partner_id, e.referral_id, e.user_id, e.user_ref, e.last_seq + 1, e.action, IF(${cured}, 0, e.dpd),
              IF(${cured}, NULL, ${dpdBucketSql('e.dpd')}), IF(${cured}, '11', ${accountStatusSql('e.dpd')}),
              COALESCE(e.overdue_amount, 0),
              IF(e.action = 'NEW', DATE_SUB(e.state_as_of, INTERVAL e.dpd - 1 DAY), e.overdue_since),
              e.state_as_of, e.notice_id, e.notice_sent_at, ?, ?
         FROM ${EVAL} e WHERE e.action IN ${RECORD_ACTIONS} ORDER BY e.partner_id, e.referral_id`,
      [asOf, scanId],
    );
    if (!result.affectedRows) return [];
    const records: ChunkRecord[] = await m.query(
      `SELECT ${RECORD_COLUMNS}, e.partner_code, e.consent_id
         FROM ${EVAL} e JOIN overdue_records o ON o.referral_id = e.referral_id AND o.seq = e.last_seq + 1
        WHERE e.action IN ${RECORD_ACTIONS} ORDER BY o.id`,
    );
    await m.query(
      `UPDATE ${EVAL} e STRAIGHT_JOIN overdue_notices n ON n.id = e.notice_id
          SET n.status = 'SHARED', n.pending_key = NULL, n.resolved_on = ?, n.resolved_scan_id = ?, n.resolved_at = NOW(3)
        WHERE e.action = 'NEW' AND n.status = 'PENDING'`,
      [asOf, scanId],
    );
    await m.query(
      `UPDATE ${EVAL} e STRAIGHT_JOIN overdue_accounts a ON a.referral_id = e.referral_id
          SET a.last_seq = e.last_seq + 1,
              a.status = IF(${cured}, 'CLEAR', 'REPORTED'),
              a.dpd_bucket = IF(${cured}, NULL, ${dpdBucketSql('e.dpd')}),
              a.overdue_since = CASE e.action WHEN 'NEW' THEN DATE_SUB(e.state_as_of, INTERVAL e.dpd - 1 DAY)
                                              WHEN 'CURED' THEN NULL ELSE e.overdue_since END,
              a.notice_id = IF(${cured}, NULL, e.notice_id)
        WHERE e.action IN ${RECORD_ACTIONS}`,
    );
    return records;
  }

  /** The chunk's counts by action (cardholders counted by the caller). */
  async counts(m: EntityManager): Promise<Omit<ScanCounts, 'cardholders'>> {
    const rows: { action: ChunkAction; n: string }[] = await m.query(
      `SELECT action, COUNT(*) AS n FROM ${EVAL} WHERE action IS NOT NULL GROUP BY action`,
    );
    const by = new Map(rows.map((r) => [r.action, Number(r.n)]));
    const n = (a: ChunkAction) => by.get(a) ?? 0;
    return {
      noticesSent: n('NOTICE'),
      noticesCancelled: n('CANCEL'),
      reported: n('NEW'),
      updated: n('UPDATED'),
      cured: n('CURED'),
      suppressed: n('SUPPRESS') + n('WITHDRAW'),
    };
  }

  /** Drops EVAL (a temporary table: never an implicit commit). */
  async drop(m: EntityManager): Promise<void> {
    await m.query(`DROP TEMPORARY TABLE IF EXISTS ${EVAL}`);
  }
}

const toChunkNotice = (r: Record<string, string>): ChunkNotice => ({
  noticeId: String(r.notice_id),
  userId: r.user_id,
  partnerCode: r.partner_code,
  referralId: String(r.referral_id),
  action: r.action as ChunkNotice['action'],
});
