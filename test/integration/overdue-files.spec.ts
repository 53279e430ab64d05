import { createHash, randomBytes } from 'node:crypto';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, decodeProtectedHeader, JWTPayload, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { toPublicId } from '../../src/common/public-id';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { makeCardholders, postRepaymentStatus, scanDates, startScan, untilScanEnded } from '../support/overdue-flow';
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
  let D: string;
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
    refs = await makeCardholders(api, db, bank, [alice, bob], { overdueThresholdDays: 30 });
    otherRefs = await makeCardholders(api, db, other, [carol], { overdueThresholdDays: 30 });
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
    // One scan date: scan dates are a budget the scanning specs of a run share (scanDates), and the notice flow
    // before a report is overdue.spec's. Alice and Carol were told the day before (a delivered notice whose period
    // ends on D), seeded as the crash test in overdue.spec seeds them; the scan of D then reports them.
    [D] = await scanDates(db, 1);
    await postRepaymentStatus(api, [
      { userId: alice, currentDpd: 35, overdueAmount: '500.00', asOf: D },
      { userId: carol, currentDpd: 40, overdueAmount: '300.00', asOf: D },
    ]);
    const yesterday = new Date(Date.parse(`${D}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    await db.query(
      `INSERT INTO overdue_notices (referral_id, partner_id, user_id, dpd, overdue_amount, state_as_of, notice_date, share_on, scan_id, sent_at)
       SELECT id, partner_id, user_id, 35, 500.00, ?, ?, ?, 0, NOW(3) FROM referrals WHERE user_id IN (?)`,
      [yesterday, yesterday, D, [alice, carol]],
    );
    await db.query(
      `INSERT INTO overdue_accounts (referral_id, partner_id, user_id, status, notice_id)
       SELECT referral_id, partner_id, user_id, 'NOTICE_PENDING', id FROM overdue_notices WHERE user_id IN (?)`,
      [[alice, carol]],
    );
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it("answers 400 for a malformed date, and 404 until the date's scan has completed", async () => {
    for (const bad of ['2026-02-30', '20261121', 'today']) {
      const res = await files(bad);
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const before = await files(D);
    expect(before.statusCode).toBe(404);
    expect(before.headers['content-type']).toContain('application/problem+json');
    expect(before.json()).toEqual(
      expect.objectContaining({
        type: 'https://errors.referral-gateway.dev/not-found',
        status: 404,
        detail: expect.stringContaining('scan has not completed'),
        instance: expect.any(String),
      }),
    );
    // Queued (no worker): still 404, and nothing built.
    await worker!.close();
    worker = undefined;
    const queued = await startScan(api, D);
    expect(queued.statusCode).toBe(202);
    const early = await files(D);
    expect(early.statusCode).toBe(404);
    expect(early.json().detail).toContain('has not completed');
    expect(await stored(bank.code, D)).toEqual([]);
    worker = await startWorker();
    await untilScanEnded(api, queued.json().id);
    expect((await files(D)).statusCode).toBe(200);
    // The scope is overdue:read; no token at all is 401.
    expect((await files(D, await bank.accessToken(api, 'referrals:read'))).statusCode).toBe(403);
    expect((await inject(api, { method: 'GET', url: `/partner/v1/overdue-report-files/${D}` })).statusCode).toBe(401);
  });

  it("hands out the partner's records of the day signed, verified with jose through the JWKS, byte-identical again", async () => {
    const first = await files(D);
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ reportDate: D, parts: 1, files: [expect.any(String)] });
    const listed = (await records()).filter((r: { reportDate: string }) => r.reportDate === D);
    expect(listed.map((r: { referralId: string; status: string }) => [r.referralId, r.status])).toEqual([[refs[0], 'NEW']]);
    const file = first.json().files[0];
    const payload = await verify(file, bank.code);
    expect(payload).toEqual({
      iss: GATEWAY,
      aud: bank.code,
      jti: expect.any(String),
      iat: expect.any(Number),
      exp: expect.any(Number),
      reportDate: D,
      records: listed.map(withoutReceipt),
      recordCount: 1,
      part: 1,
      parts: 1,
    });
    expect(decodeProtectedHeader(file)).toEqual({ alg: 'ES256', typ: 'overdue-report+jwt', kid: expect.any(String) });

    // The bank acknowledges the record; the file does not change (it carries the record as made, not its receipt).
    const ack = await inject(api, {
      method: 'POST',
      url: `/partner/v1/overdue-reports/${listed[0].id}/acknowledgement`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ack.statusCode).toBe(200);
    const second = await files(D);
    expect(second.statusCode).toBe(200);
    expect(second.body).toBe(first.body);

    // Stored once, with its digest; each fetch audited with the digests handed out.
    const rows = await stored(bank.code, D);
    expect(rows).toEqual([expect.objectContaining({ version: 1, part: 1, parts: 1, record_count: 1 })]);
    expect(rows[0].file).toBe(file);
    expect(rows[0].file_sha256).toBe(sha256(file));
    const audited = await eventually(async () => {
      const entries: Array<{ details: string | object }> = await db.query(
        `SELECT details FROM audit_events WHERE action = 'overdue_report_file.fetched' AND resource_id = ? AND partner_code = ?
         UNION ALL SELECT details FROM audit_inbox WHERE action = 'overdue_report_file.fetched' AND resource_id = ? AND partner_code = ?`,
        [D, bank.code, D, bank.code],
      );
      return entries.length === 3 ? entries : undefined; // the first test's fetch and these two
    });
    const details = audited!.map((e) => (typeof e.details === 'string' ? JSON.parse(e.details) : e.details));
    expect(details.map((d) => d.built).sort()).toEqual([false, false, true]);
    for (const d of details) expect(d).toEqual(expect.objectContaining({ reportDate: D, version: 1, fileSha256: [rows[0].file_sha256] }));
  });

  it('gives each bank its own records only, and a bank without records that day one empty part', async () => {
    const mine = await files(D);
    const theirs = await files(D, otherToken);
    expect(theirs.statusCode).toBe(200);
    const theirPayload = await verify(theirs.json().files[0], other.code);
    expect((theirPayload.records as Array<{ referralId: string }>).map((r) => r.referralId)).toEqual([otherRefs[0]]);
    expect(theirs.body).not.toContain(refs[0]);
    expect(mine.body).not.toContain(otherRefs[0]);
    // Addressed to the other bank: this bank's verification refuses it.
    await expect(verify(theirs.json().files[0], bank.code)).rejects.toThrow();
    // Bob was never overdue: in no file.
    expect(mine.body).not.toContain(refs[1]);

    const quiet = new BankClient(uniqueCode('OQ'));
    await quiet.register(api);
    const empty = await files(D, await quiet.accessToken(api));
    expect(empty.statusCode).toBe(200);
    expect(empty.json()).toEqual({ reportDate: D, parts: 1, files: [expect.any(String)] });
    expect(await verify(empty.json().files[0], quiet.code)).toEqual(
      expect.objectContaining({ aud: quiet.code, reportDate: D, records: [], recordCount: 0, part: 1, parts: 1 }),
    );
  });

  it('splits a day past 10,000 records into parts of 10,000 (10,001 records are two parts), in creation order', async () => {
    // A bank with 10,001 records made by the D scan, seeded set-based (the flow above is what makes them for real).
    const big = new BankClient(uniqueCode('OB'));
    await big.register(api);
    const bigToken = await big.accessToken(api);
    const [partner] = await db.query('SELECT id FROM partners WHERE code = ?', [big.code]);
    const [scanRow] = await db.query(`SELECT id FROM overdue_scans WHERE as_of = ? AND status = 'COMPLETED' ORDER BY id LIMIT 1`, [D]);
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
            D,
            D,
            0,
            new Date(),
            D,
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
        url: `/partner/v1/overdue-report-files/${D}`,
        headers: { authorization: `Bearer ${bigToken}` },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body).toEqual({ reportDate: D, parts: 2, files: [expect.any(String), expect.any(String)] });
      const [one, two] = await Promise.all(body.files.map((f: string) => verify(f, big.code)));
      expect([one.part, one.parts, one.recordCount, two.part, two.parts, two.recordCount]).toEqual([1, 2, 10_000, 2, 2, 1]);
      const ids = [...(one.records as JWTPayload[]), ...(two.records as JWTPayload[])].map((r) => r.referralId);
      expect(ids).toHaveLength(N);
      expect(ids[0]).toBe(toPublicId('ref', 9_000_000_000));
      expect(ids[N - 1]).toBe(toPublicId('ref', 9_000_000_000 + N - 1));
      expect(new Set(ids).size).toBe(N);
      const again = await inject(api, {
        method: 'GET',
        url: `/partner/v1/overdue-report-files/${D}`,
        headers: { authorization: `Bearer ${bigToken}` },
      });
      expect(again.body).toBe(res.body);
      expect((await stored(big.code, D)).map((r: { version: number; part: number }) => [r.version, r.part])).toEqual([
        [1, 1],
        [1, 2],
      ]);

      // A record the same date gains later (a re-scan of the date after late repayment data): a new version, the old one kept.
      await seed(N, N + 1);
      const renewed = (
        await inject(api, {
          method: 'GET',
          url: `/partner/v1/overdue-report-files/${D}`,
          headers: { authorization: `Bearer ${bigToken}` },
        })
      ).json();
      expect(renewed.parts).toBe(2);
      expect((await verify(renewed.files[1], big.code)).recordCount).toBe(2);
      expect((await stored(big.code, D)).map((r: { version: number; part: number }) => [r.version, r.part])).toEqual([
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
