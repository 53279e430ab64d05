import * as mysql from 'mysql2/promise';

import { rowKey } from '../../support/public-ids';
import { send } from './http';
import { until } from './processes';
import { complianceHeaders } from './scenario';

type Rows = mysql.RowDataPacket[];

/** Actions written once per referral and state: a second entry for the same referral is a duplicated effect. */
const ONCE_PER_REFERRAL = ['referral.packaged', 'referral.acknowledged', 'referral.decided'];

export interface Expected {
  /** Public ids of every referral the case created. */
  referrals: string[];
  /** Which of them must have a final decision (the decided status). */
  decided?: Map<string, string>;
}

/**
 * The end of every case: each referral the case made exists once with one signed file, entered each state once,
 * produced each event once and each audit entry once; no outbox row failed; the audit inbox has been chained and the
 * chain verifies (GET /v1/compliance/audit/verify, as compliance asks it).
 */
export async function assertExactlyOnce(db: mysql.Pool, apiBaseUrl: string, expected: Expected): Promise<void> {
  const keys = expected.referrals.map(rowKey);
  expect(new Set(keys).size).toBe(keys.length);

  const [referrals] = await db.query<Rows>('SELECT id, status, file_jti FROM referrals WHERE id IN (?)', [keys]);
  expect(referrals).toHaveLength(keys.length);
  const notPackaged = referrals.filter((r) => r.status === 'PACKAGING' || !r.file_jti);
  expect(notPackaged).toEqual([]);
  expect(new Set(referrals.map((r) => r.file_jti)).size).toBe(keys.length);
  for (const [id, status] of expected.decided ?? []) {
    expect({ id, status: referrals.find((r) => String(r.id) === rowKey(id))?.status }).toEqual({ id, status });
  }

  const [twiceEntered] = await db.query<Rows>(
    `SELECT referral_id, to_status, COUNT(*) AS n FROM referral_timeline WHERE referral_id IN (?)
      GROUP BY referral_id, to_status HAVING n > 1`,
    [keys],
  );
  expect(twiceEntered).toEqual([]);

  const [events] = await db.query<Rows>(
    `SELECT txn, event_type, COUNT(*) AS n FROM partner_events WHERE txn IN (?) GROUP BY txn, event_type`,
    [expected.referrals],
  );
  expect(events.filter((e) => Number(e.n) !== 1)).toEqual([]);
  const ready = new Set(events.filter((e) => e.event_type === 'referral.ready').map((e) => e.txn));
  expect(expected.referrals.filter((id) => !ready.has(id))).toEqual([]);

  const [failed] = await db.query<Rows>("SELECT id, queue, job_name, last_error FROM outbox WHERE status = 'FAILED'");
  expect(failed).toEqual([]);

  // Every entry must have left the inbox for the chain before the chain can speak for it.
  await until('audit inbox chained', async () => {
    const [[row]] = await db.query<Rows>('SELECT COUNT(*) AS n FROM audit_inbox');
    return Number(row.n) === 0;
  });
  const [audit] = await db.query<Rows>(
    `SELECT action, resource_id, COUNT(*) AS n FROM audit_events WHERE resource_id IN (?) AND action IN (?)
      GROUP BY action, resource_id`,
    [expected.referrals, ONCE_PER_REFERRAL],
  );
  expect(audit.filter((a) => Number(a.n) !== 1)).toEqual([]);
  const packaged = new Set(audit.filter((a) => a.action === 'referral.packaged').map((a) => a.resource_id));
  expect(expected.referrals.filter((id) => !packaged.has(id))).toEqual([]);
  const decided = new Set(audit.filter((a) => a.action === 'referral.decided').map((a) => a.resource_id));
  expect([...(expected.decided?.keys() ?? [])].filter((id) => !decided.has(id))).toEqual([]);

  await assertChainVerifies(apiBaseUrl);
}

export async function assertChainVerifies(apiBaseUrl: string): Promise<void> {
  const verify = await send(apiBaseUrl, 'GET', '/v1/compliance/audit/verify', { headers: complianceHeaders(), timeoutMs: 60_000 });
  expect(verify.status).toBe(200);
  expect(verify.json()).toMatchObject({ ok: true });
}

/** Referral statuses as stored, by public id. */
export async function statuses(db: mysql.Pool, referrals: string[]): Promise<Map<string, string>> {
  const [rows] = await db.query<Rows>('SELECT id, status FROM referrals WHERE id IN (?)', [referrals.map(rowKey)]);
  const byKey = new Map(rows.map((r) => [String(r.id), String(r.status)]));
  return new Map(referrals.map((id) => [id, byKey.get(rowKey(id)) ?? 'MISSING']));
}

export async function countReady(db: mysql.Pool, referrals: string[]): Promise<number> {
  return [...(await statuses(db, referrals)).values()].filter((s) => s !== 'PACKAGING' && s !== 'MISSING').length;
}
