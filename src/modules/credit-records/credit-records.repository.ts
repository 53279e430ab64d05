import { Injectable } from '@nestjs/common';
import { escape, raw } from 'mysql2';
import { DataSource, EntityManager } from 'typeorm';

/** A credit_records row ready to write: identity already sealed and hashed, values in their column form. */
export interface CreditRecordRow {
  userId: string;
  asOf: string;
  identityEnc: Buffer;
  nationalIdHash: Buffer;
  phoneHash: Buffer;
  kycLevel: number;
  score: number;
  riskGrade: string;
  creditLimit: string;
  balance: string;
  accountOpenedAt: string;
  onTimeCount24m: number;
  overdueCount24m: number;
  maxDpd24m: number;
  currentDpd: number;
  overdueAmount: string;
  orders12m: number;
  gmv12m: string;
  returnRate12m: string;
  avgReviewScore: string;
  addressStable12m: 0 | 1;
  accountsOnDevice: number;
  /** JSON text. */
  topCategories: string;
}

/** What a write must know about a stored record, read under lock. Dates as YYYY-MM-DD. */
export interface StoredState {
  asOf: string;
  currentDpdAsOf: string;
}

export interface RepaymentStatusUpdate {
  userId: string;
  currentDpd: number;
  overdueAmount: string;
  asOf: string;
}

/** A stored record as read back (decimals as strings, dates as YYYY-MM-DD). */
export interface StoredCreditRecord extends CreditRecordRow {
  recordVersion: number;
  currentDpdAsOf: string;
}

/** Row field -> column, in the order of every multi-row VALUES list. */
const COLUMNS: [keyof CreditRecordRow, string][] = [
  ['userId', 'user_id'],
  ['asOf', 'as_of'],
  ['identityEnc', 'identity_enc'],
  ['nationalIdHash', 'national_id_hash'],
  ['phoneHash', 'phone_hash'],
  ['kycLevel', 'kyc_level'],
  ['score', 'score'],
  ['riskGrade', 'risk_grade'],
  ['creditLimit', 'credit_limit'],
  ['balance', 'balance'],
  ['accountOpenedAt', 'account_opened_at'],
  ['onTimeCount24m', 'on_time_count_24m'],
  ['overdueCount24m', 'overdue_count_24m'],
  ['maxDpd24m', 'max_dpd_24m'],
  ['currentDpd', 'current_dpd'],
  ['overdueAmount', 'overdue_amount'],
  ['orders12m', 'orders_12m'],
  ['gmv12m', 'gmv_12m'],
  ['returnRate12m', 'return_rate_12m'],
  ['avgReviewScore', 'avg_review_score'],
  ['addressStable12m', 'address_stable_12m'],
  ['accountsOnDevice', 'accounts_on_device'],
  ['topCategories', 'top_categories'],
];

/** Every column of a record, which are also every column of its snapshot but created_at (migration 1763800500000). */
const INSERT_COLUMNS = [...COLUMNS.map(([, c]) => c), 'record_version', 'current_dpd_as_of'].join(', ');

/** Columns a newer snapshot replaces wholesale (everything but the key, the version and the DPD trio). */
const REPLACED = COLUMNS.map(([, c]) => c).filter((c) => !['user_id', 'as_of', 'current_dpd', 'overdue_amount'].includes(c));

const NEWER = 'VALUES(as_of) > as_of';

/**
 * Every assignment is guarded by "the incoming snapshot is newer", so the statement is safe even if a caller's
 * pre-check were stale. MySQL and MariaDB evaluate ON DUPLICATE KEY UPDATE assignments left to right, each seeing
 * the columns already assigned: as_of therefore comes last, and current_dpd/overdue_amount (kept when a
 * repayment-status update is newer than the snapshot) come before current_dpd_as_of.
 */
const ON_NEWER_SNAPSHOT = [
  ...REPLACED.map((c) => `${c} = IF(${NEWER}, VALUES(${c}), ${c})`),
  `current_dpd = IF(${NEWER} AND VALUES(as_of) >= current_dpd_as_of, VALUES(current_dpd), current_dpd)`,
  `overdue_amount = IF(${NEWER} AND VALUES(as_of) >= current_dpd_as_of, VALUES(overdue_amount), overdue_amount)`,
  `record_version = IF(${NEWER}, record_version + 1, record_version)`,
  `current_dpd_as_of = IF(${NEWER}, GREATEST(current_dpd_as_of, VALUES(as_of)), current_dpd_as_of)`,
  `as_of = IF(${NEWER}, VALUES(as_of), as_of)`,
].join(',\n        ');

const FIELDS = COLUMNS.map(([field]) => field);

/** One column value as a SQL literal, exactly as mysql2's own formatting writes it (strings escaped, bytes as hex). */
function literal(value: string | number | Buffer): string {
  if (typeof value === 'string') return escape(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a credit_records value is not a finite number');
    return `${value}`;
  }
  return `X'${value.toString('hex')}'`;
}

/**
 * The VALUES list of a multi-row write as one prebuilt text, handed to mysql2 as a single raw value. This is the
 * statement mysql2 would format from nested arrays, built without its generic per-value dispatch and without it
 * scanning the whole statement for placeholders, which together cost about a sixth of the ingest's CPU.
 */
function valuesList(rows: CreditRecordRow[]) {
  let sql = '';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    sql += i === 0 ? '(' : ', (';
    for (const field of FIELDS) sql += `${literal(r[field])}, `;
    sql += `1, ${escape(r.asOf)})`;
  }
  return raw(sql);
}

/** The repayment_states VALUES list of the rows' (userId, asOf, currentDpd, overdueAmount), prebuilt like valuesList. */
function repaymentValues(rows: ReadonlyArray<{ userId: string; asOf: string; currentDpd: number; overdueAmount: string }>) {
  let sql = '';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    sql += `${i === 0 ? '' : ', '}(${escape(r.userId)}, ${escape(r.asOf)}, ${literal(r.currentDpd)}, ${escape(r.overdueAmount)})`;
  }
  return raw(sql);
}

/** The SQL of credit_records. Every write takes the caller's transactional manager; bulk writes are multi-row. */
@Injectable()
export class CreditRecordsRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Locks the stored rows of `userIds` (in key order, so concurrent chunks do not deadlock) and returns their state. */
  async lockStates(m: EntityManager, userIds: string[]): Promise<Map<string, StoredState>> {
    const states = new Map<string, StoredState>();
    if (!userIds.length) return states;
    const rows: { user_id: string; as_of: string; current_dpd_as_of: string }[] = await m.query(
      `SELECT user_id, DATE_FORMAT(as_of, '%Y-%m-%d') AS as_of, DATE_FORMAT(current_dpd_as_of, '%Y-%m-%d') AS current_dpd_as_of
         FROM credit_records WHERE user_id IN (?) ORDER BY user_id FOR UPDATE`,
      [userIds],
    );
    for (const r of rows) states.set(r.user_id, { asOf: r.as_of, currentDpdAsOf: r.current_dpd_as_of });
    return states;
  }

  /**
   * Snapshot on write: before the caller changes these (locked) records, copies each one whose current version an
   * offer pins into credit_record_snapshots, so the referral file can still be built from the version the offer was
   * made on (DESIGN.md, flows 2 and 4). Records no offer pins are not copied: most never are. Every change makes a
   * new version, so a version is copied once; IGNORE skips the copies earlier pre-screens made of every offered
   * version (before snapshot on write). Reads `offers` directly: the pin is a fact of the rows, not of a service.
   * The pre-screen makes its offers under shared locks on these rows (OffersRepository.createForEligible), so an
   * offer is either committed before the caller's lock is granted, and seen here, or made afterwards on the caller's
   * new version, never on the version being replaced.
   */
  async preservePinnedVersions(m: EntityManager, userIds: string[]): Promise<void> {
    if (!userIds.length) return;
    await m.query(
      `INSERT IGNORE INTO credit_record_snapshots (${INSERT_COLUMNS})
       SELECT ${INSERT_COLUMNS.split(', ')
         .map((c) => `cr.${c}`)
         .join(', ')}
         FROM credit_records cr
        WHERE cr.user_id IN (?)
          AND EXISTS (SELECT 1 FROM offers o WHERE o.user_id = cr.user_id AND o.record_version = cr.record_version)`,
      [userIds],
    );
  }

  /** First snapshots: a plain multi-row INSERT, so a row created concurrently fails loudly (duplicate key) instead of being miscounted. */
  async insertNew(m: EntityManager, rows: CreditRecordRow[]): Promise<void> {
    if (!rows.length) return;
    await m.query(`INSERT INTO credit_records (${INSERT_COLUMNS}) VALUES ?`, [valuesList(rows)]);
    await this.recordRepaymentStates(m, rows);
  }

  /** Newer snapshots of existing rows: one multi-row upsert, every column replaced only when the snapshot is newer. */
  async applyNewer(m: EntityManager, rows: CreditRecordRow[]): Promise<void> {
    if (!rows.length) return;
    await m.query(
      `INSERT INTO credit_records (${INSERT_COLUMNS}) VALUES ?
       ON DUPLICATE KEY UPDATE
        ${ON_NEWER_SNAPSHOT}`,
      [valuesList(rows)],
    );
    await this.recordRepaymentStates(m, rows);
  }

  /**
   * The repayment history (repayment_states) of what the caller has just applied, in its transaction: one multi-row
   * upsert, no read. A state of the same user and date replaces the stored one, as it does in credit_records (an
   * equal-dated status update replaces the current one; a snapshot dated like a status update wins over it). The
   * overdue scan reads it only for a business date older than a record's current_dpd_as_of (OverdueScanRepository).
   */
  private async recordRepaymentStates(
    m: EntityManager,
    rows: ReadonlyArray<{ userId: string; asOf: string; currentDpd: number; overdueAmount: string }>,
  ): Promise<void> {
    if (!rows.length) return;
    await m.query(
      `INSERT INTO repayment_states (user_id, as_of, current_dpd, overdue_amount) VALUES ?
       ON DUPLICATE KEY UPDATE current_dpd = VALUES(current_dpd), overdue_amount = VALUES(overdue_amount)`,
      [repaymentValues(rows)],
    );
  }

  /**
   * Repayment-status updates in one statement: the values arrive as a derived table (UNION ALL keeps this valid on
   * both MySQL 8 and MariaDB, whose row-constructor syntaxes differ) and apply only when not older than either the
   * current DPD or the snapshot. Each one makes a new record version, like a newer snapshot: a version's content never
   * changes, so what an offer pins is exactly what was evaluated (and copied once if it is ever replaced).
   * `history` (by default the updates themselves) goes to repayment_states: every line the caller found not older than
   * the stored state under the rows' locks, older lines of a user's batch included, in line order (the last of equal
   * dates wins, as it does here).
   */
  async applyRepaymentStatus(
    m: EntityManager,
    updates: RepaymentStatusUpdate[],
    history: RepaymentStatusUpdate[] = updates,
  ): Promise<void> {
    await this.recordRepaymentStates(m, history);
    if (!updates.length) return;
    const rows = updates
      .map((_, i) =>
        i === 0
          ? 'SELECT ? AS user_id, CAST(? AS SIGNED) AS current_dpd, CAST(? AS DECIMAL(14,2)) AS overdue_amount, CAST(? AS DATE) AS as_of'
          : 'SELECT ?, CAST(? AS SIGNED), CAST(? AS DECIMAL(14,2)), CAST(? AS DATE)',
      )
      .join(' UNION ALL ');
    await m.query(
      `UPDATE credit_records cr JOIN (${rows}) u ON cr.user_id = u.user_id
          SET cr.current_dpd = u.current_dpd, cr.overdue_amount = u.overdue_amount, cr.current_dpd_as_of = u.as_of,
              cr.record_version = cr.record_version + 1
        WHERE u.as_of >= cr.current_dpd_as_of AND u.as_of >= cr.as_of`,
      updates.flatMap((u) => [u.userId, u.currentDpd, u.overdueAmount, u.asOf]),
    );
  }

  async findUserIdsByNationalIdHash(hash: Buffer): Promise<string[]> {
    const rows: { user_id: string }[] = await this.dataSource.query(
      'SELECT user_id FROM credit_records WHERE national_id_hash = ? ORDER BY user_id',
      [hash],
    );
    return rows.map((r) => r.user_id);
  }

  async findUserIdsByPhoneHash(hash: Buffer): Promise<string[]> {
    const rows: { user_id: string }[] = await this.dataSource.query(
      'SELECT user_id FROM credit_records WHERE phone_hash = ? ORDER BY user_id',
      [hash],
    );
    return rows.map((r) => r.user_id);
  }

  async findByUserId(userId: string, m: EntityManager = this.dataSource.manager): Promise<StoredCreditRecord | null> {
    const select = COLUMNS.map(([field, column]) =>
      ['asOf', 'accountOpenedAt'].includes(field) ? `DATE_FORMAT(${column}, '%Y-%m-%d') AS ${field}` : `${column} AS ${field}`,
    );
    const rows: Record<string, unknown>[] = await m.query(
      `SELECT ${select.join(', ')}, record_version AS recordVersion, DATE_FORMAT(current_dpd_as_of, '%Y-%m-%d') AS currentDpdAsOf
         FROM credit_records WHERE user_id = ?`,
      [userId],
    );
    if (!rows.length) return null;
    const r = rows[0];
    return {
      ...(r as unknown as StoredCreditRecord),
      addressStable12m: Number(r.addressStable12m) ? 1 : 0,
      topCategories: typeof r.topCategories === 'string' ? r.topCategories : JSON.stringify(r.topCategories),
    };
  }

  /** Only the sealed identity of the user's current record (the compliance timeline's name block), or null. */
  async findSealedIdentity(userId: string): Promise<Buffer | null> {
    const rows: { identity_enc: Buffer }[] = await this.dataSource.query('SELECT identity_enc FROM credit_records WHERE user_id = ?', [
      userId,
    ]);
    return rows[0]?.identity_enc ?? null;
  }
}
