import * as mysql from 'mysql2/promise';

import { keyOf } from '../../src/common/public-id';
import { utcToday } from '../../src/modules/overdue/overdue-scan';
import { BenchEnvironment } from '../support/env';
import { startGatewayProcess, stopChild } from '../support/processes';
import { fetchRetryingStaleSocket, runPool, sleep, timed } from '../support/timing';

/**
 * The overdue scan over a seeded population of cardholders (docs/BENCHMARKS.md, "Overdue scan"), through the real
 * job path: POST /v1/admin/overdue-scans to the api, its planning and chunk jobs relayed by the outbox to a
 * worker-role process, GET /v1/admin/overdue-scans/{id} polled until COMPLETED.
 */

/** What a seeded cardholder's state is on the scan date D, and what the scan must do with it. */
interface SeedState {
  name: string;
  /** Share of the population, in basis points (the states sum to 10,000). */
  bp: number;
  /** current_dpd on D (its credit_records row and its repayment_states row, both as of D). */
  dpd: number;
  revoked?: boolean;
  /** The sharing state left by earlier scans: a pending notice of `noticeAge` days, or a report in bucket 30-59. */
  account?: { status: 'NOTICE_PENDING'; noticeAge: number } | { status: 'REPORTED'; overdueSinceAge: number };
  /** The scan's count this state adds to (API.md's counts), if any. */
  action?: 'noticesSent' | 'noticesCancelled' | 'reported' | 'updated' | 'cured' | 'suppressed';
}

/**
 * The mix, for the bank's default overdueThresholdDays 30 and noticeDays 7. About 6 % of cardholders are behind in some
 * way and 3.5 % are 30+ days past due (a card portfolio's usual 2–4 %). The day's flows (1 % newly 30+ days, 0.5 %
 * reported after their notice, 0.6 % repaying during the notice, 0.3 % moving bucket, 0.2 % cured) are heavier than an
 * ordinary day's, about a billing-cycle date's, so that the scan's writes weigh in the figure.
 */
export const OVERDUE_MIX: SeedState[] = [
  { name: 'current', bp: 9250, dpd: 0 },
  { name: 'current, consent revoked', bp: 150, dpd: 0, revoked: true },
  { name: 'late, below the threshold', bp: 200, dpd: 12 },
  { name: 'newly past the threshold', bp: 100, dpd: 31, action: 'noticesSent' },
  { name: 'newly past the threshold, consent revoked', bp: 10, dpd: 33, revoked: true, action: 'suppressed' },
  { name: 'notice past shareOn', bp: 50, dpd: 38, account: { status: 'NOTICE_PENDING', noticeAge: 8 }, action: 'reported' },
  { name: 'notice before shareOn', bp: 50, dpd: 32, account: { status: 'NOTICE_PENDING', noticeAge: 2 } },
  { name: 'notice, repaid', bp: 60, dpd: 0, account: { status: 'NOTICE_PENDING', noticeAge: 3 }, action: 'noticesCancelled' },
  {
    name: 'notice, consent revoked',
    bp: 10,
    dpd: 33,
    revoked: true,
    account: { status: 'NOTICE_PENDING', noticeAge: 3 },
    action: 'suppressed',
  },
  { name: 'reported, same bucket', bp: 70, dpd: 45, account: { status: 'REPORTED', overdueSinceAge: 44 } },
  { name: 'reported, bucket change', bp: 30, dpd: 62, account: { status: 'REPORTED', overdueSinceAge: 61 }, action: 'updated' },
  { name: 'reported, cured', bp: 20, dpd: 0, account: { status: 'REPORTED', overdueSinceAge: 50 }, action: 'cured' },
];

/** Cardholder n's state: a permutation of each block of 10,000 (7919 is prime to 10,000), so states interleave. */
const STATE_SLOT_SQL = '((seq * 7919) % 10000)';
const stateSlot = (n: number) => (n * 7919) % 10000;

/** SQL CASE over STATE_SLOT_SQL giving `value(state)`, in the mix's order. */
function byState(value: (s: SeedState) => string): string {
  let upto = 0;
  const arms = OVERDUE_MIX.map((s) => {
    upto += s.bp;
    return `WHEN ${STATE_SLOT_SQL} < ${upto} THEN ${value(s)}`;
  });
  return `(CASE ${arms.join(' ')} END)`;
}

function stateOf(n: number): SeedState {
  const slot = stateSlot(n);
  let upto = 0;
  for (const s of OVERDUE_MIX) {
    upto += s.bp;
    if (slot < upto) return s;
  }
  throw new Error('the mix does not cover 10,000 basis points');
}

export type ExpectedCounts = Record<NonNullable<SeedState['action']>, number>;

export function expectedCounts(cardholders: number): ExpectedCounts {
  const counts: ExpectedCounts = { noticesSent: 0, noticesCancelled: 0, reported: 0, updated: 0, cured: 0, suppressed: 0 };
  for (let n = 0; n < cardholders; n++) {
    const action = stateOf(n).action;
    if (action) counts[action]++;
  }
  return counts;
}

const day = (iso: string, delta: number) => new Date(Date.parse(`${iso}T00:00:00Z`) + delta * 86_400_000).toISOString().slice(0, 10);

export interface OverdueSeed {
  cardholders: number;
  asOf: string;
  seedSeconds: number;
}

/**
 * Seeds `count` cardholders of the bank's product set-based (INSERT … SELECT over MariaDB's seq_0_to_N sequence table,
 * batches of 50,000 on two connections): per cardholder a credit_records row and its repayment_states row as of D,
 * its own consent (REVOKED for the revoked states), an APPROVED referral and the cardholders row, and for the states
 * that have one, the sharing state earlier scans left: overdue_accounts, the notice (PENDING and delivered, or SHARED)
 * and, for reported ones, their NEW record, all of an earlier COMPLETED scan for D − 1. User ids `od_0000000`… sort
 * in seq order, so a chunk's range is a run of consecutive cardholders. Identity hashes are sequential, not random:
 * the scan never reads those indexes, and random keys would spend minutes of seeding on their page reads.
 */
export async function seedOverdueCardholders(
  pool: mysql.Pool,
  opts: { partnerCode: string; productCode: string; count: number },
): Promise<OverdueSeed> {
  const asOf = utcToday();
  const { seconds } = await timed(async () => {
    const [[p]] = (await pool.query(
      `SELECT cp.id AS product_id, cp.partner_id, cp.current_version AS version, pa.notice_days
         FROM card_products cp JOIN partners pa ON pa.id = cp.partner_id WHERE cp.code = ? AND pa.code = ?`,
      [opts.productCode, opts.partnerCode],
    )) as unknown as [{ product_id: string; partner_id: string; version: number; notice_days: number }[]];
    if (!p) throw new Error(`no product ${opts.productCode} of partner ${opts.partnerCode}`);
    const [[bases]] = (await pool.query(
      `SELECT (SELECT COALESCE(MAX(id), 0) FROM consents) + 1 AS consent, (SELECT COALESCE(MAX(id), 0) FROM referrals) + 1 AS referral,
              (SELECT COALESCE(MAX(offer_id), 0) FROM referrals) + 2000000000 AS offer,
              (SELECT COALESCE(MAX(id), 0) FROM overdue_notices) + 1 AS notice`,
    )) as unknown as [Record<'consent' | 'referral' | 'offer' | 'notice', string>[]];
    const [scan] = (await pool.query(
      `INSERT INTO overdue_scans (as_of, status, active_key, chunk_size, chunk_count, chunks_done, total_cardholders, requested_by,
                                  started_at, finished_at)
       VALUES (?, 'COMPLETED', NULL, 10000, 0, 0, 0, 'bench-seed', NOW(3), NOW(3))`,
      [day(asOf, -1)],
    )) as unknown as [{ insertId: number }];
    const scanId = scan.insertId;
    const noticeDays = Number(p.notice_days);
    const userId = `CONCAT('od_', LPAD(seq, 7, '0'))`;
    const revoked = byState((s) => (s.revoked ? '1' : '0'));
    const dpd = byState((s) => String(s.dpd));
    const amount = `IF(${dpd} > 0, 100 + seq % 4900, 0)`;
    const accountStatus = byState((s) => (s.account ? `'${s.account.status}'` : 'NULL'));
    const noticeAge = byState((s) => (s.account?.status === 'NOTICE_PENDING' ? String(s.account.noticeAge) : 'NULL'));
    const sinceAge = byState((s) => (s.account?.status === 'REPORTED' ? String(s.account.overdueSinceAge) : 'NULL'));
    const D = pool.escape(asOf);
    const BATCH = 50_000;
    const batches = Math.ceil(opts.count / BATCH);
    await runPool(batches, 2, async (b) => {
      const from = b * BATCH;
      const upto = Math.min(opts.count, from + BATCH) - 1;
      const seq = `FROM seq_${from}_to_${upto}`;
      const c = await pool.getConnection();
      try {
        await c.query('START TRANSACTION');
        await c.query(
          `INSERT INTO credit_records (user_id, record_version, as_of, identity_enc, national_id_hash, phone_hash, kyc_level, score,
                  risk_grade, credit_limit, balance, account_opened_at, on_time_count_24m, overdue_count_24m, max_dpd_24m, current_dpd,
                  overdue_amount, orders_12m, gmv_12m, return_rate_12m, avg_review_score, address_stable_12m, accounts_on_device,
                  top_categories, current_dpd_as_of)
           SELECT ${userId}, 1, ${D}, RANDOM_BYTES(120), UNHEX(CONCAT('0d', LPAD(HEX(seq), 62, '0'))),
                  UNHEX(CONCAT('0e', LPAD(HEX(seq), 62, '0'))), 2, 600 + seq % 250, 'A', 20000, 3000 + seq % 9000,
                  ${D} - INTERVAL 400 + seq % 2000 DAY, 20, IF(${dpd} > 0, 1, 0), ${dpd}, ${dpd}, ${amount}, 10 + seq % 90,
                  1000 + seq % 20000, 0.05, 4.5, 1, 1, '["books"]', ${D}
           ${seq}`,
        );
        await c.query(
          `INSERT INTO repayment_states (user_id, as_of, current_dpd, overdue_amount) SELECT ${userId}, ${D}, ${dpd}, ${amount} ${seq}`,
        );
        await c.query(
          `INSERT INTO consents (id, user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields,
                  retention_days, status, revoked_at)
           SELECT ${bases.consent} + seq, ${userId}, ?, ?, ?, 1, REPEAT('0', 64), 'bench', JSON_ARRAY('creditRecord.score'), 365,
                  IF(${revoked}, 'REVOKED', 'ACTIVE'), IF(${revoked}, NOW(3) - INTERVAL 1 DAY, NULL)
           ${seq}`,
          [p.partner_id, p.product_id, p.version],
        );
        await c.query(
          `INSERT INTO referrals (id, user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version,
                  user_ref, status, expires_at, decided_at, ready_at, delivered_at)
           SELECT ${bases.referral} + seq, ${userId}, ?, ?, ?, ${bases.offer} + seq, ${bases.consent} + seq, 0, 1,
                  SUBSTR(REPLACE(REPLACE(TO_BASE64(UNHEX(SHA2(CONCAT('od-ref-', seq), 256))), '+', '-'), '/', '_'), 1, 43),
                  'APPROVED', NOW(3) - INTERVAL 80 DAY, NOW(3) - INTERVAL 90 DAY, NOW(3) - INTERVAL 91 DAY, NOW(3) - INTERVAL 91 DAY
           ${seq}`,
          [p.partner_id, p.product_id, p.version],
        );
        await c.query(
          `INSERT INTO cardholders (partner_id, user_id, referral_id, card_last4, credit_limit, approved_at)
           SELECT ?, ${userId}, ${bases.referral} + seq, '4242', 20000, NOW(3) - INTERVAL 90 DAY ${seq}`,
          [p.partner_id],
        );
        // A pending notice is delivered (sent_at); a reported account's notice was SHARED by its NEW record.
        await c.query(
          `INSERT INTO overdue_notices (id, referral_id, partner_id, user_id, dpd, overdue_amount, state_as_of, notice_date, share_on,
                  status, pending_key, scan_id, resolved_scan_id, resolved_on, sent_at, resolved_at)
           SELECT ${bases.notice} + seq, ${bases.referral} + seq, ?, ${userId}, 30, 150, nd, nd, nd + INTERVAL ? DAY,
                  IF(st = 'REPORTED', 'SHARED', 'PENDING'), IF(st = 'REPORTED', NULL, 1), ?, IF(st = 'REPORTED', ?, NULL),
                  IF(st = 'REPORTED', nd + INTERVAL ? DAY, NULL), nd + INTERVAL 1 HOUR, IF(st = 'REPORTED', NOW(3), NULL)
             FROM (SELECT seq, ${accountStatus} AS st, ${D} - INTERVAL COALESCE(${noticeAge}, ${sinceAge} - 29 + ?) DAY AS nd ${seq}) s
            WHERE st IS NOT NULL`,
          [p.partner_id, noticeDays, scanId, scanId, noticeDays, noticeDays],
        );
        await c.query(
          `INSERT INTO overdue_accounts (referral_id, partner_id, user_id, status, notice_id, last_seq, dpd_bucket, overdue_since)
           SELECT ${bases.referral} + seq, ?, ${userId}, st, ${bases.notice} + seq, IF(st = 'REPORTED', 1, 0),
                  IF(st = 'REPORTED', '30-59', NULL), IF(st = 'REPORTED', ${D} - INTERVAL since_age DAY, NULL)
             FROM (SELECT seq, ${accountStatus} AS st, ${sinceAge} AS since_age ${seq}) s WHERE st IS NOT NULL`,
          [p.partner_id],
        );
        await c.query(
          `INSERT INTO overdue_records (partner_id, referral_id, user_id, user_ref, seq, status, dpd, dpd_bucket, account_status,
                  overdue_amount, overdue_since, state_as_of, notice_id, notice_sent_at, report_date, scan_id, created_at)
           SELECT a.partner_id, a.referral_id, a.user_id, r.user_ref, 1, 'NEW', 30, '30-59', '71', 150, a.overdue_since,
                  n.share_on, n.id, n.sent_at, n.share_on, ?, NOW(3) - INTERVAL 5 DAY
             FROM overdue_accounts a JOIN referrals r ON r.id = a.referral_id JOIN overdue_notices n ON n.id = a.notice_id
            WHERE a.referral_id BETWEEN ${bases.referral} + ${from} AND ${bases.referral} + ${upto} AND a.status = 'REPORTED'`,
          [scanId],
        );
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    });
    await pool.query('ANALYZE TABLE cardholders, credit_records, overdue_accounts, overdue_notices, referrals, consents');
  });
  return { cardholders: opts.count, asOf, seedSeconds: seconds };
}

/**
 * The raw limit of the scan: the cheapest SQL that reads what the scan must read for every cardholder, its
 * cardholders row, its credit record (the repayment state for D) and its sharing state, as one aggregate
 * statement on one connection (nothing but one row sent back):
 * `SELECT COUNT(*), SUM(cr.current_dpd_as_of <= D), SUM(cr.current_dpd > 0), COUNT(a.referral_id)
 *    FROM cardholders ch LEFT JOIN credit_records cr ON cr.user_id = ch.user_id
 *    LEFT JOIN overdue_accounts a ON a.referral_id = ch.referral_id`. Best of two runs back to back. LEFT JOINs, so
 * that it counts every cardholder row as the scan does (a cardholder without a credit record costs both a lookup).
 */
export async function rawOverdueScan(pool: mysql.Pool, asOf: string): Promise<{ rowsPerSec: number; rows: number; seconds: number[] }> {
  const seconds: number[] = [];
  let rows = 0;
  for (let i = 0; i < 2; i++) {
    const run = await timed(() =>
      pool.query(
        `SELECT COUNT(*) AS n, SUM(cr.current_dpd_as_of <= ?) AS dated, SUM(cr.current_dpd > 0) AS late, COUNT(a.referral_id) AS accounts
           FROM cardholders ch LEFT JOIN credit_records cr ON cr.user_id = ch.user_id
           LEFT JOIN overdue_accounts a ON a.referral_id = ch.referral_id`,
        [asOf],
      ),
    );
    seconds.push(run.seconds);
    rows = Number((run.value[0] as { n: string }[])[0].n);
  }
  return { rowsPerSec: rows / Math.min(...seconds), rows, seconds };
}

/**
 * Until a worker runs jobs: an outbox probe (the `cli outbox:probe` check: a probe row and its outbox row) handled
 * end to end. A worker booting on a loaded machine takes seconds that a fixed sleep would put into the figure.
 */
async function untilJobsRun(pool: mysql.Pool, timeoutMs = 120_000): Promise<void> {
  const c = await pool.getConnection();
  let probeId: number;
  try {
    await c.query('START TRANSACTION');
    const [probe] = (await c.query(`INSERT INTO outbox_probes (label) VALUES ('bench-overdue')`)) as unknown as [{ insertId: number }];
    probeId = probe.insertId;
    await c.query(`INSERT INTO outbox (queue, job_name, payload) VALUES ('maintenance', 'outbox.probe', ?)`, [
      JSON.stringify({ probeId: String(probeId), correlationId: 'bench-overdue' }),
    ]);
    await c.query('COMMIT');
  } finally {
    c.release();
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [[row]] = (await pool.query('SELECT handled_at FROM outbox_probes WHERE id = ?', [probeId])) as unknown as [
      { handled_at: Date | null }[],
    ];
    if (row.handled_at) return;
    if (Date.now() > deadline) throw new Error(`no worker ran the outbox probe within ${timeoutMs} ms`);
    await sleep(50);
  }
}

export interface OverdueScanFigures {
  cardholdersPerSec: number;
  seconds: number;
  cardholders: number;
  chunks: number;
  counts: Record<string, number>;
}

/**
 * The scan for D through the operator API, a worker-role process doing the work: POST /v1/admin/overdue-scans, then
 * GET /v1/admin/overdue-scans/{id} until COMPLETED. Timed from the POST to COMPLETED; its counts must be `expected`.
 * Returns null when this build has no overdue scans (the route answers 404).
 */
export async function overdueScanRun(
  bench: BenchEnvironment,
  pool: mysql.Pool,
  baseUrl: string,
  adminToken: string,
  asOf: string,
  expected: ExpectedCounts,
  chunkSize?: number,
): Promise<OverdueScanFigures | null> {
  const headers = { authorization: `Bearer ${adminToken}` };
  const worker = await startGatewayProcess(bench, 'worker');
  try {
    await untilJobsRun(pool); // the worker's start-up stays out of the measured time
    const start = process.hrtime.bigint();
    const created = await fetchRetryingStaleSocket(`${baseUrl}/v1/admin/overdue-scans`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'idempotency-key': `bench-overdue-${asOf}-${bench.runId}` },
      body: JSON.stringify(chunkSize ? { asOf, chunkSize } : { asOf }),
    });
    if (created.status === 404) return null;
    if (created.status !== 202) throw new Error(`overdue scan: HTTP ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    for (;;) {
      const res = await fetchRetryingStaleSocket(`${baseUrl}/v1/admin/overdue-scans/${id}`, { headers });
      const scan = (await res.json()) as {
        status: string;
        counts: Record<string, number>;
        failureReason?: string;
      };
      if (scan.status === 'FAILED') throw new Error(`overdue scan ${id} FAILED: ${scan.failureReason}`);
      if (scan.status === 'COMPLETED') {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        for (const [k, v] of Object.entries(expected)) {
          if (scan.counts[k] !== v) throw new Error(`overdue scan ${id}: ${k} ${scan.counts[k]}, the seed expects ${v}`);
        }
        const [[row]] = (await pool.query('SELECT chunk_count FROM overdue_scans WHERE id = ?', [keyOf('osc', id)])) as unknown as [
          { chunk_count: number }[],
        ];
        return {
          cardholdersPerSec: scan.counts.cardholders / seconds,
          seconds,
          cardholders: scan.counts.cardholders,
          chunks: Number(row.chunk_count),
          counts: scan.counts,
        };
      }
      await sleep(100);
    }
  } finally {
    await stopChild(worker.child);
  }
}
