import { randomBytes } from 'node:crypto';

import * as mysql from 'mysql2/promise';

import { syntheticCreditRecord } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';
import { runPool } from '../support/timing';

/** Identity ciphertext as long as the gateway's (AES-GCM sealed JSON of name, nationalId, phone plus IV, tag, header). */
const IDENTITY_CIPHERTEXT_BYTES = 120;

/**
 * Raw insert limit: mysql2 multi-row INSERTs (1,000 rows each, autocommit) of credit-record-shaped rows into a
 * scratch table created LIKE credit_records (same columns and indexes), from `connections` connections at once,
 * values prepared in advance except the keys and hashes (fresh per row, as the real indexes would see them).
 */
export async function rawInsertRowsPerSecond(pool: mysql.Pool, rows: number, connections: number): Promise<number> {
  await pool.query('CREATE TABLE bench_raw_insert LIKE credit_records');
  const perStatement = 1000;
  const template = Array.from({ length: 200 }, (_, i) => rowValues(i));
  const statements = Math.ceil(rows / perStatement);
  const start = process.hrtime.bigint();
  await runPool(statements, connections, async (s) => {
    const n = Math.min(perStatement, rows - s * perStatement);
    const hashes = randomBytes(64 * n);
    const values = Array.from({ length: n }, (_, i) => {
      const v = [...template[i % template.length]];
      v[0] = `r_${String(s * perStatement + i).padStart(9, '0')}`;
      v[3] = hashes.subarray(64 * i, 64 * i + 32);
      v[4] = hashes.subarray(64 * i + 32, 64 * i + 64);
      return v;
    });
    await pool.query(`INSERT INTO bench_raw_insert (${COLUMNS}) VALUES ?`, [values]);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await pool.query('DROP TABLE bench_raw_insert');
  return rows / seconds;
}

const COLUMNS = `user_id, as_of, identity_enc, national_id_hash, phone_hash, kyc_level, score, risk_grade, credit_limit, balance,
  account_opened_at, on_time_count_24m, overdue_count_24m, max_dpd_24m, current_dpd, overdue_amount, orders_12m, gmv_12m,
  return_rate_12m, avg_review_score, address_stable_12m, accounts_on_device, top_categories, record_version, current_dpd_as_of`;

function rowValues(i: number): unknown[] {
  const r = syntheticCreditRecord({ seed: 'bench-raw' }, i);
  return [
    r.userId,
    r.asOf,
    randomBytes(IDENTITY_CIPHERTEXT_BYTES),
    null,
    null,
    r.identity.kycLevel,
    r.score,
    r.riskGrade,
    r.creditLimit,
    r.balance,
    r.accountOpenedAt,
    r.repayment.onTimeCount24m,
    r.repayment.overdueCount24m,
    r.repayment.maxDpd24m,
    r.repayment.currentDpd,
    r.repayment.overdueAmount,
    r.consumption.orders12m,
    r.consumption.gmv12m,
    r.consumption.returnRate12m.toFixed(4),
    r.consumption.avgReviewScore.toFixed(2),
    r.consumption.addressStable12m ? 1 : 0,
    r.device.accountsOnDevice,
    JSON.stringify(r.consumption.topCategories),
    1,
    r.asOf,
  ];
}

/**
 * Raw scan limit: `SELECT * FROM credit_records` streamed through mysql2 (every column of every row decoded by
 * the driver, nothing kept), on one connection.
 */
export async function fullScanRowsPerSecond(uri: string): Promise<{ rowsPerSec: number; rows: number }> {
  // The callback API streams; the promise wrapper would buffer every row.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const callbackMysql: typeof import('mysql2') = require('mysql2');
  const connection = callbackMysql.createConnection({ uri, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' });
  const start = process.hrtime.bigint();
  const rows = await new Promise<number>((resolve, reject) => {
    let n = 0;
    connection
      .query('SELECT * FROM credit_records')
      .stream({ highWaterMark: 1000 })
      .on('data', () => n++)
      .on('error', reject)
      .on('end', () => resolve(n));
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  connection.end();
  return { rowsPerSec: rows / seconds, rows };
}
