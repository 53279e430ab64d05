import { createHash, randomBytes } from 'node:crypto';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, decodeProtectedHeader, JWTPayload, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { makeCardholders, postRepaymentStatus, scan, scanDates, startScan, untilScanEnded } from '../support/overdue-flow';
import { BankClient, GATEWAY, inject, uniqueCode } from '../support/partner-client';
import { userIds } from '../support/referral-flow';

/**
 * The signed daily overdue report files (API.md "Overdue report file", `GET /partner/v1/overdue-report-files/{date}`)
 * on real MariaDB and Redis: 404 until the date's scan has completed, verified with jose through the JWKS, the
 * partner's own records only, byte-identical on a second fetch, one empty part for a day without records, and parts
 * of 10,000 records past that.
 */
jest.setTimeout(240_000);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('signed daily overdue report files', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let worker: INestApplicationContext | undefined;
  const bank = new BankClient(uniqueCode('OF'));
  const other = new BankClient(uniqueCode('OG'));
  const [alice, bob, carol] = userIds(3);
  let refs: string[];
  let otherRefs: string[];
  let D: string[];
  let token: string;
  let otherToken: string;

  const files = (date: string, t = token) =>
    inject(api, { method: 'GET', url: `/partner/v1/overdue-report-files/${date}`, headers: { authorization: `Bearer ${t}` } });
  const records = async (t = token) =>
    (await inject(api, { method: 'GET', url: '/partner/v1/overdue-reports?limit=500', headers: { authorization: `Bearer ${t}` } })).json()
      .data;
  const verify = async (file: string, audience: string) => {
    const jwks = createLocalJWKSet((await inject(api, { method: 'GET', url: '/.well-known/jwks.json' })).json());
    return (await jwtVerify(file, jwks, { typ: 'overdue-report+jwt', audience, issuer: GATEWAY, algorithms: ['ES256'] })).payload;
  };
  const stored = (partnerCode: string, date: string) =>
    db.query(
      `SELECT f.version, f.part, f.parts, f.record_count, f.file, f.file_sha256 FROM overdue_report_files f
         JOIN partners p ON p.id = f.partner_id WHERE p.code = ? AND f.report_date = ? ORDER BY f.version, f.part`,
      [partnerCode, date],
    );
  const withoutReceipt = ({ acknowledgedAt: _receipt, ...record }: Record<string, unknown>) => record;

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    worker = await startWorker();
    // Threshold 30 days, notice period 1 day: a notice on D[0], the report on D[1].
    refs = await makeCardholders(api, db, bank, [alice, bob], { overdueThresholdDays: 30, noticeDays: 1 });
    otherRefs = await makeCardholders(api, db, other, [carol], { overdueThresholdDays: 30, noticeDays: 1 });
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
    D = await scanDates(db, 2);
    await postRepaymentStatus(api, [
      { userId: alice, currentDpd: 35, overdueAmount: '500.00', asOf: D[0] },
      { userId: carol, currentDpd: 40, overdueAmount: '300.00', asOf: D[0] },
    ]);
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it('answers 400 for a malformed date and 404 until the date has been scanned; a day without records is one empty part', async () => {
    for (const bad of ['2026-02-30', '20261121', 'today']) {
      const res = await files(bad);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const before = await files(D[0]);
    expect(before.statusCode).toBe(404);
    expect(before.headers['content-type']).toContain('application/problem+json');
    expect(before.json()).toEqual(
      expect.objectContaining({
        type: 'https://errors.referral-gateway.dev/not-found',
        status: 404,
        detail: expect.stringContaining('scan'),
      }),
    );
    expect(await stored(bank.code, D[0])).toEqual([]);

    // D[0] makes notices only: nothing for the bank that day.
    await scan(api, D[0]);
    const res = await files(D[0]);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ reportDate: D[0], parts: 1, files: [expect.any(String)] });
    const payload = await verify(body.files[0], bank.code);
    expect(payload).toEqual(
      expect.objectContaining({ iss: GATEWAY, aud: bank.code, reportDate: D[0], records: [], recordCount: 0, part: 1, parts: 1 }),
    );
    expect(payload.jti).toEqual(expect.any(String));
    expect(payload.iat).toEqual(expect.any(Number));
    expect(decodeProtectedHeader(body.files[0])).toEqual(
      expect.objectContaining({ alg: 'ES256', typ: 'overdue-report+jwt', kid: expect.any(String) }),
    );
  });

  it("answers 404 while the date's scan is queued; afterwards the partner's records, verified with jose, byte-identical again", async () => {
    // Reports wait for the notices to have been delivered.
    await eventually(async () => {
      const rows = await db.query('SELECT sent_at FROM overdue_notices WHERE user_id IN (?)', [[alice, carol]]);
      return rows.length === 2 && rows.every((r: { sent_at: Date | null }) => r.sent_at !== null);
    });
    await worker!.close();
    worker = undefined;
    const queued = await startScan(api, D[1]);
    expect(queued.statusCode).toBe(202);
    const early = await files(D[1]);
    expect(early.statusCode).toBe(404);
    expect(early.json().detail).toContain('has not completed');
    expect(await stored(bank.code, D[1])).toEqual([]);
    worker = await startWorker();
    await untilScanEnded(api, queued.json().id);

    const first = await files(D[1]);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ reportDate: D[1], parts: 1, files: [expect.any(String)] });
    const listed = (await records()).filter((r: { reportDate: string }) => r.reportDate === D[1]);
    expect(listed.map((r: { referralId: string; status: string }) => [r.referralId, r.status])).toEqual([[refs[0], 'NEW']]);
    const payload = await verify(first.json().files[0], bank.code);
    expect(payload).toEqual(
      expect.objectContaining({ reportDate: D[1], records: listed.map(withoutReceipt), recordCount: 1, part: 1, parts: 1 }),
    );

    // The bank acknowledges the record; the file does not change (it carries the record as made, not its receipt).
    const ack = await inject(api, {
      method: 'POST',
      url: `/partner/v1/overdue-reports/${listed[0].id}/acknowledgement`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ack.statusCode).toBe(200);
    const second = await files(D[1]);
    expect(second.statusCode).toBe(200);
    expect(second.body).toBe(first.body);

    // Stored once, with its digest; each fetch audited with the digests handed out.
    const rows = await stored(bank.code, D[1]);
    expect(rows).toEqual([expect.objectContaining({ version: 1, part: 1, parts: 1, record_count: 1 })]);
    expect(rows[0].file).toBe(first.json().files[0]);
    expect(rows[0].file_sha256).toBe(sha256(first.json().files[0]));
    const audited = await eventually(async () => {
      const entries: Array<{ details: string; partner_code: string }> = await db.query(
        `SELECT details, partner_code FROM audit_events WHERE action = 'overdue_report_file.fetched' AND resource_id = ? AND partner_code = ?
         UNION ALL SELECT details, partner_code FROM audit_inbox WHERE action = 'overdue_report_file.fetched' AND resource_id = ? AND partner_code = ?`,
        [D[1], bank.code, D[1], bank.code],
      );
      return entries.length === 2 ? entries : undefined;
    });
    const details = audited!.map((e) => (typeof e.details === 'string' ? JSON.parse(e.details) : e.details));
    expect(details.map((d) => d.built).sort()).toEqual([false, true]);
    for (const d of details)
      expect(d).toEqual(expect.objectContaining({ reportDate: D[1], version: 1, fileSha256: [rows[0].file_sha256] }));

    // The other bank: its own cardholder's record only, addressed to it; never this bank's records.
    const theirs = await files(D[1], otherToken);
    expect(theirs.statusCode).toBe(200);
    const theirPayload = await verify(theirs.json().files[0], other.code);
    const theirRecords = theirPayload.records as Array<{ referralId: string }>;
    expect(theirRecords.map((r) => r.referralId)).toEqual([otherRefs[0]]);
    expect(theirs.body).not.toContain(refs[0]);
    expect(first.body).not.toContain(otherRefs[0]);
    await expect(verify(theirs.json().files[0], bank.code)).rejects.toThrow();
    // Bob was never overdue: in no file.
    expect(first.body).not.toContain(refs[1]);
  });

  it('splits a day past 10,000 records into parts of 10,000 (10,001 records are two parts), in creation order', async () => {
    // A bank with 10,001 records made by the D[1] scan, seeded set-based (the flow above is what makes them for real).
    const big = new BankClient(uniqueCode('OB'));
    await big.register(api);
    const bigToken = await big.accessToken(api);
    const [partner] = await db.query('SELECT id FROM partners WHERE code = ?', [big.code]);
    const [scanRow] = await db.query(`SELECT id FROM overdue_scans WHERE as_of = ? AND status = 'COMPLETED' ORDER BY id LIMIT 1`, [D[1]]);
    const prefix = `ovf${randomBytes(3).toString('hex')}_`;
    const N = 10_001;
    const seed = async (from: number, to: number) => {
      for (let i = from; i < to; i += 2000) {
        const rows = Array.from({ length: Math.min(2000, to - i) }, (_, k) => {
          const n = i + k;
          return [
            partner.id,
            9_000_000_000 + n,
            `${prefix}${n}`,
            randomBytes(32).toString('base64url').slice(0, 43),
            1,
            'NEW',
            45,
            '30-59',
            '71',
            '450.00',
            D[0],
            D[1],
            0,
            new Date(),
            D[1],
            scanRow.id,
          ];
        });
        await db.query(
          `INSERT INTO overdue_records (partner_id, referral_id, user_id, user_ref, seq, status, dpd, dpd_bucket, account_status,
             overdue_amount, overdue_since, state_as_of, notice_id, notice_sent_at, report_date, scan_id) VALUES ?`,
          [rows],
        );
      }
    };
    await seed(0, N);
    try {
      const res = await inject(api, {
        method: 'GET',
        url: `/partner/v1/overdue-report-files/${D[1]}`,
        headers: { authorization: `Bearer ${bigToken}` },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toEqual({ reportDate: D[1], parts: 2, files: [expect.any(String), expect.any(String)] });
      const [one, two] = await Promise.all(body.files.map((f: string) => verify(f, big.code)));
      expect([one.part, one.parts, one.recordCount, two.part, two.parts, two.recordCount]).toEqual([1, 2, 10_000, 2, 2, 1]);
      const ids = [...(one.records as JWTPayload[]), ...(two.records as JWTPayload[])].map((r) => r.referralId);
      expect(ids).toHaveLength(N);
      expect(ids[0]).toBe('ref_9000000000');
      expect(ids[N - 1]).toBe(`ref_${9_000_000_000 + N - 1}`);
      expect(new Set(ids).size).toBe(N);
      const again = await inject(api, {
        method: 'GET',
        url: `/partner/v1/overdue-report-files/${D[1]}`,
        headers: { authorization: `Bearer ${bigToken}` },
      });
      expect(again.body).toBe(res.body);
      expect((await stored(big.code, D[1])).map((r: { version: number; part: number }) => [r.version, r.part])).toEqual([
        [1, 1],
        [1, 2],
      ]);

      // A record the same date gains later (a re-scan of the date after late repayment data): a new version, the old one kept.
      await seed(N, N + 1);
      const renewed = (
        await inject(api, {
          method: 'GET',
          url: `/partner/v1/overdue-report-files/${D[1]}`,
          headers: { authorization: `Bearer ${bigToken}` },
        })
      ).json();
      expect(renewed.parts).toBe(2);
      expect((await verify(renewed.files[1], big.code)).recordCount).toBe(2);
      expect((await stored(big.code, D[1])).map((r: { version: number; part: number }) => [r.version, r.part])).toEqual([
        [1, 1],
        [1, 2],
        [2, 1],
        [2, 2],
      ]);
    } finally {
      await db.query('DELETE FROM overdue_records WHERE partner_id = ?', [partner.id]);
    }
  });
});
