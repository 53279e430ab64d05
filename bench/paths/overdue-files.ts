import { randomBytes } from 'node:crypto';

import { DataSource } from 'typeorm';

import { fetchRetryingStaleSocket, timed } from '../support/timing';
import { BenchBank } from './token';

/** Records of the one report date the daily-file figure builds (a tenth in a quick run). */
export const OVERDUE_FILE_RECORDS = 100_000;
/** A business date no scan of the bench uses: a COMPLETED scan row for it does not hold back later scans' dates. */
const REPORT_DATE = '2000-01-03';
const SEED_ROWS_PER_STATEMENT = 5_000;

export interface OverdueFileFigures {
  recordsPerSec: number;
  seconds: number;
  records: number;
  parts: number;
  megabytes: number;
  againSeconds: number;
}

/**
 * The signed daily overdue report file of one partner and date (docs/OVERDUE.md "Signed daily files"): `records`
 * overdue records of the bench bank are seeded set-based for a date whose scan is marked COMPLETED, then the bank's
 * first GET /partner/v1/overdue-report-files/{date} — which reads the records, signs every part of 10,000 (ES256),
 * stores them with their digests in one transaction and answers them — is timed over a real socket; records / seconds
 * of that request. The second fetch (the stored files, byte-identical) is timed for the note.
 */
export async function overdueFileBuild(
  dataSource: DataSource,
  baseUrl: string,
  publicBaseUrl: string,
  bank: BenchBank,
  records: number,
): Promise<OverdueFileFigures> {
  const [partner] = (await dataSource.query('SELECT id FROM partners WHERE code = ?', [bank.code])) as Array<{ id: string }>;
  const scan = await dataSource.query(
    `INSERT INTO overdue_scans (as_of, status, active_key, chunk_size, requested_by, started_at, finished_at)
     VALUES (?, 'COMPLETED', NULL, 10000, 'bench', NOW(3), NOW(3))`,
    [REPORT_DATE],
  );
  const prefix = `bof_${randomBytes(3).toString('hex')}_`;
  for (let i = 0; i < records; i += SEED_ROWS_PER_STATEMENT) {
    const rows = Array.from({ length: Math.min(SEED_ROWS_PER_STATEMENT, records - i) }, (_, k) => {
      const n = i + k;
      const userRef = randomBytes(32).toString('base64url').slice(0, 43);
      const recordFields = [1, 'NEW', 30 + (n % 150), '30-59', '71', '1234.56', '1999-12-01', REPORT_DATE];
      return [partner.id, 7_000_000_000 + n, `${prefix}${n}`, userRef, ...recordFields, n + 1, new Date(), REPORT_DATE, scan.insertId];
    });
    await dataSource.query(
      `INSERT INTO overdue_records (partner_id, referral_id, user_id, user_ref, seq, status, dpd, dpd_bucket, account_status,
         overdue_amount, overdue_since, state_as_of, notice_id, notice_sent_at, report_date, scan_id) VALUES ?`,
      [rows],
    );
  }

  const token = await overdueToken(baseUrl, publicBaseUrl, bank);
  const get = async () => {
    const res = await fetchRetryingStaleSocket(`${baseUrl}/partner/v1/overdue-report-files/${REPORT_DATE}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 200) throw new Error(`overdue report files: HTTP ${res.status} ${(await res.text()).slice(0, 300)}`);
    return res.text();
  };
  const first = await timed(get);
  const again = await timed(get);
  if (again.value !== first.value) throw new Error('overdue report files: the second fetch returned different bytes');
  const body = JSON.parse(first.value) as { parts: number; files: string[] };
  const expectedParts = Math.max(1, Math.ceil(records / 10_000));
  if (body.parts !== expectedParts) throw new Error(`overdue report files: ${body.parts} parts, expected ${expectedParts}`);
  return {
    recordsPerSec: records / first.seconds,
    seconds: first.seconds,
    records,
    parts: body.parts,
    megabytes: Buffer.byteLength(first.value) / 1e6,
    againSeconds: again.seconds,
  };
}

async function overdueToken(baseUrl: string, publicBaseUrl: string, bank: BenchBank): Promise<string> {
  const res = await fetchRetryingStaleSocket(`${baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `${bank.tokenRequestBody(`${publicBaseUrl}/oauth/token`)}&scope=overdue%3Aread`,
  });
  if (res.status !== 200) throw new Error(`overdue token: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}
