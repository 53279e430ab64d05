import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Command } from 'commander';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { register as registerOverdueCli } from '../../src/cli/commands/overdue';
import { keyOf } from '../../src/common/public-id';
import { recordKeyOf, scanKeyOf } from '../../src/modules/overdue/overdue-record';
import { utcToday } from '../../src/modules/overdue/overdue-scan';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';
import { getScan, makeCardholders, postRepaymentStatus, scan, scanDates, startScan, untilScanEnded } from '../support/overdue-flow';
import { adminHeaders, BankClient, GATEWAY, inject, uniqueCode } from '../support/partner-client';
import { userHeaders, userIds } from '../support/referral-flow';

/**
 * Overdue sharing end to end on real MariaDB and Redis, through the HTTP API: a cardholder is noticed, reported once
 * the notice period has passed, updated and cured (scans for past dates, from repayment history, as a catch-up runs
 * them); one repays during the notice and is never shared; one revoked the consent and is never shared; dates only
 * move forward; the same date twice changes nothing; acknowledgements; the SET verifies with jose through the JWKS.
 */
jest.setTimeout(240_000);

const ROOT = join(__dirname, '..', '..');

const day = (iso: string, delta: number) => new Date(Date.parse(`${iso}T00:00:00Z`) + delta * 86_400_000).toISOString().slice(0, 10);

describe('overdue sharing', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let worker: INestApplicationContext | undefined;
  const bank = new BankClient(uniqueCode('OV'));
  const other = new BankClient(uniqueCode('OX'));
  let token: string;
  let otherToken: string;
  const [alice, bob, carol] = userIds(3);
  let refs: string[];
  let D: string[];
  let child: ChildProcess | undefined;

  const bankGet = (url: string, t = token) => inject(api, { method: 'GET', url, headers: { authorization: `Bearer ${t}` } });
  const bankPost = (url: string, t = token, payload: object = {}) =>
    inject(api, { method: 'POST', url, headers: { authorization: `Bearer ${t}` }, payload });
  const notices = async (userId: string) => {
    const res = await inject(api, { method: 'GET', url: '/v1/me/overdue-notices', headers: userHeaders(userId) });
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const records = async (query = '', t = token) => {
    const res = await bankGet(`/partner/v1/overdue-reports${query}`, t);
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const storedRecords = (ref: string) =>
    db.query('SELECT id, status, seq FROM overdue_records WHERE referral_id = ? ORDER BY id', [keyOf('ref', ref)]);
  const noticesSent = (userId: string) =>
    eventually(async () => {
      const rows = await db.query('SELECT sent_at FROM overdue_notices WHERE user_id = ?', [userId]);
      return rows.length > 0 && rows.every((r: { sent_at: Date | null }) => r.sent_at !== null);
    });

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    worker = await startWorker();
    // Threshold 30 days, notice period 2 days.
    refs = await makeCardholders(api, db, bank, [alice, bob, carol], { overdueThresholdDays: 30, noticeDays: 2 });
    await other.register(api);
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
    D = await scanDates(db, 7);

    // Carol revokes the consent her card was referred under.
    const consents = await inject(api, { method: 'GET', url: '/v1/me/consents', headers: userHeaders(carol) });
    const consent = consents.json().data.find((c: { referralId: string }) => c.referralId === refs[2]);
    const revoked = await inject(api, { method: 'DELETE', url: `/v1/me/consents/${consent.id}`, headers: userHeaders(carol) });
    expect(revoked.json().status).toBe('REVOKED');

    // Alice's whole story is known up front (a catch-up: each scan reads the history as of its date); Bob's arrives day by day.
    await postRepaymentStatus(api, [
      { userId: alice, currentDpd: 35, overdueAmount: '500.00', asOf: D[0] },
      { userId: alice, currentDpd: 37, overdueAmount: '520.00', asOf: D[2] },
      { userId: alice, currentDpd: 65, overdueAmount: '800.00', asOf: D[3] },
      { userId: alice, currentDpd: 0, overdueAmount: '0.00', asOf: D[4] },
      { userId: bob, currentDpd: 31, overdueAmount: '100.00', asOf: D[0] },
      { userId: carol, currentDpd: 40, overdueAmount: '300.00', asOf: D[0] },
    ]);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await worker?.close();
    await api?.close();
  });

  it('notices first: a notice to each overdue cardholder, nothing to the bank; a revoked consent is suppressed', async () => {
    const first = await scan(api, D[0]);
    expect(first).toEqual({
      id: expect.stringMatching(/^osc_/),
      asOf: D[0],
      status: 'COMPLETED',
      progress: { evaluated: first.counts.cardholders, total: first.counts.cardholders },
      counts: {
        cardholders: expect.any(Number),
        noticesSent: expect.any(Number),
        noticesCancelled: 0,
        reported: 0,
        updated: 0,
        cured: 0,
        suppressed: expect.any(Number),
      },
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    expect(first.counts.cardholders).toBeGreaterThanOrEqual(3);
    expect(first.counts.noticesSent).toBeGreaterThanOrEqual(2);
    expect(first.counts.suppressed).toBeGreaterThanOrEqual(1);

    const a = await notices(alice);
    expect(a).toEqual({
      data: [
        {
          id: expect.stringMatching(/^ntc_/),
          partner: { code: bank.code, name: `Bank ${bank.code}` },
          referralId: refs[0],
          dpd: 35,
          overdueAmount: '500.00',
          noticeDate: D[0],
          shareOn: day(D[0], 2),
          status: 'PENDING',
        },
      ],
      nextCursor: null,
    });
    expect((await notices(bob)).data).toEqual([expect.objectContaining({ dpd: 31, status: 'PENDING', referralId: refs[1] })]);
    expect((await notices(carol)).data).toEqual([]);
    expect(await records()).toEqual({ data: [], nextCursor: null });
    // Each notice goes out through its notification job.
    await noticesSent(alice);
    await noticesSent(bob);
  });

  it('the same date twice changes nothing', async () => {
    const again = await scan(api, D[0]);
    expect(again.counts).toEqual({ ...again.counts, noticesSent: 0, noticesCancelled: 0, reported: 0, updated: 0, cured: 0 });
    expect((await notices(alice)).data).toHaveLength(1);
    expect((await notices(bob)).data).toHaveLength(1);
    expect(await db.query('SELECT COUNT(*) AS n FROM overdue_records WHERE user_id IN (?)', [[alice, bob, carol]])).toEqual([{ n: '0' }]);
  });

  it('repaid during the notice period: the notice is cancelled and nothing is shared', async () => {
    await postRepaymentStatus(api, [{ userId: bob, currentDpd: 0, overdueAmount: '0.00', asOf: D[1] }]);
    const second = await scan(api, D[1]);
    expect(second.counts.noticesCancelled).toBeGreaterThanOrEqual(1);
    expect((await notices(bob)).data).toEqual([expect.objectContaining({ status: 'CANCELLED', shareOn: day(D[0], 2) })]);
    // Alice's notice period has not passed yet.
    expect((await notices(alice)).data).toEqual([expect.objectContaining({ status: 'PENDING' })]);
    expect(await records()).toEqual({ data: [], nextCursor: null });
  });

  it('once the notice period has passed, a NEW record is shared with its SET, ledger row and audit entry', async () => {
    const third = await scan(api, D[2]);
    expect(third.counts.reported).toBeGreaterThanOrEqual(1);
    const [sentAt] = await db.query('SELECT sent_at FROM overdue_notices WHERE user_id = ?', [alice]);
    const list = await records();
    expect(list).toEqual({
      data: [
        {
          id: expect.stringMatching(/^ovd_/),
          referralId: refs[0],
          userRef: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
          status: 'NEW',
          dpd: 37,
          dpdBucket: '30-59',
          accountStatus: '71',
          overdueAmount: '520.00',
          overdueSince: day(D[2], -36),
          asOf: D[2],
          noticeSentAt: new Date(sentAt.sent_at).toISOString(),
          reportDate: D[2],
          createdAt: expect.any(String),
          acknowledgedAt: null,
        },
      ],
      nextCursor: null,
    });
    const record = list.data[0];
    expect((await notices(alice)).data).toEqual([expect.objectContaining({ status: 'SHARED' })]);

    // The SET, polled by the bank and verified with jose through the JWKS.
    const poll = await bankPost('/partner/v1/events/poll', token, { maxEvents: 100, returnImmediately: true });
    const jwks = createLocalJWKSet((await inject(api, { method: 'GET', url: '/.well-known/jwks.json' })).json());
    const sets = await Promise.all(
      Object.values(poll.json().sets as Record<string, string>).map((s) =>
        jwtVerify(s, jwks, { typ: 'secevent+jwt', audience: bank.code, issuer: GATEWAY }),
      ),
    );
    const reported = sets.filter((s) => s.payload.txn === record.id);
    expect(reported).toHaveLength(1);
    expect(reported[0].payload.events).toEqual({ 'https://referral-gateway.dev/events/overdue.reported': record });

    // The disclosure ledger (seen by the user) and the audit trail, written with the record.
    const disclosures = await inject(api, { method: 'GET', url: '/v1/me/disclosures', headers: userHeaders(alice) });
    expect(disclosures.json().data.filter((d: { kind: string }) => d.kind === 'OVERDUE_REPORT')).toEqual([
      expect.objectContaining({ kind: 'OVERDUE_REPORT', referralId: refs[0], partner: expect.objectContaining({ code: bank.code }) }),
    ]);
    const audited = async (action: string) =>
      Number((await db.query('SELECT COUNT(*) AS n FROM audit_inbox WHERE resource_id = ? AND action = ?', [record.id, action]))[0].n) +
      Number((await db.query('SELECT COUNT(*) AS n FROM audit_events WHERE resource_id = ? AND action = ?', [record.id, action]))[0].n);
    expect(await audited('overdue_report.reported')).toBe(1);
  });

  it('refuses a date before the latest completed scan (409) and a future date (400)', async () => {
    const behind = await startScan(api, D[1]);
    expect(behind.statusCode).toBe(409);
    expect(behind.headers['content-type']).toContain('application/problem+json');
    expect(behind.json()).toEqual(
      expect.objectContaining({
        type: 'https://errors.referral-gateway.dev/overdue-scan-date-behind',
        status: 409,
        instance: expect.any(String),
      }),
    );
    const future = await startScan(api, day(utcToday(), 2));
    expect(future.statusCode).toBe(400);
    const malformed = await startScan(api, '2026-02-30');
    expect(malformed.statusCode).toBe(400);
    expect(await db.query('SELECT COUNT(*) AS n FROM overdue_scans WHERE as_of IN (?)', [[D[1]]])).toEqual([{ n: '1' }]);
  });

  it('a bucket change is UPDATED, a repayment CURED; after a cure a new delinquency starts with a new notice', async () => {
    await scan(api, D[3]);
    await scan(api, D[4]);
    const all = (await records()).data;
    expect(all.map((r: { status: string }) => r.status)).toEqual(['NEW', 'UPDATED', 'CURED']);
    expect(all[1]).toEqual(
      expect.objectContaining({ dpd: 65, dpdBucket: '60-89', accountStatus: '78', overdueAmount: '800.00', overdueSince: day(D[2], -36) }),
    );
    expect(all[2]).toEqual(
      expect.objectContaining({ dpd: 0, dpdBucket: null, accountStatus: '11', asOf: D[4], reportDate: D[4], overdueSince: day(D[2], -36) }),
    );
    // Bob and Carol: never anything for the bank.
    expect(await storedRecords(refs[1])).toEqual([]);
    expect(await storedRecords(refs[2])).toEqual([]);
    expect((await notices(carol)).data).toEqual([]);
    // Creation order and cursors.
    const firstPage = await records('?limit=2');
    expect(firstPage.data.map((r: { id: string }) => r.id)).toEqual(all.slice(0, 2).map((r: { id: string }) => r.id));
    const secondPage = await records(`?limit=2&cursor=${firstPage.nextCursor}`);
    expect(secondPage).toEqual({ data: [all[2]], nextCursor: null });
    expect((await records(`?since=${encodeURIComponent(all[2].createdAt)}`)).data.map((r: { id: string }) => r.id)).toContain(all[2].id);

    await postRepaymentStatus(api, [{ userId: alice, currentDpd: 33, overdueAmount: '90.00', asOf: D[5] }]);
    const sixth = await scan(api, D[5]);
    expect(sixth.counts.noticesSent).toBeGreaterThanOrEqual(1);
    expect((await notices(alice)).data.map((n: { status: string; noticeDate: string }) => [n.status, n.noticeDate])).toEqual([
      ['SHARED', D[0]],
      ['PENDING', D[5]],
    ]);
    expect((await storedRecords(refs[0])).map((r: { seq: number }) => Number(r.seq))).toEqual([1, 2, 3]);
  });

  it('acknowledgement is idempotent, audited once, and another partner gets 404', async () => {
    const [first] = (await records()).data;
    const ack = await bankPost(`/partner/v1/overdue-reports/${first.id}/acknowledgement`);
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toEqual({ ...first, acknowledgedAt: expect.any(String) });
    const again = await bankPost(`/partner/v1/overdue-reports/${first.id}/acknowledgement`);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(ack.json());

    const foreign = await bankPost(`/partner/v1/overdue-reports/${first.id}/acknowledgement`, otherToken);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().type).toBe('https://errors.referral-gateway.dev/not-found');
    expect((await bankPost('/partner/v1/overdue-reports/ovd_999999999/acknowledgement')).statusCode).toBe(404);
    expect(await records('', otherToken)).toEqual({ data: [], nextCursor: null });

    const [stored] = await db.query('SELECT acknowledged_at FROM overdue_records WHERE id = ?', [recordKeyOf(first.id)]);
    expect(new Date(stored.acknowledged_at).toISOString()).toBe(ack.json().acknowledgedAt);
    const acks = await db.query(
      `SELECT action FROM audit_inbox WHERE resource_id = ? AND action LIKE 'overdue_report.%'
       UNION ALL SELECT action FROM audit_events WHERE resource_id = ? AND action LIKE 'overdue_report.%'`,
      [first.id, first.id],
    );
    expect(acks.map((a: { action: string }) => a.action).sort()).toEqual([
      'overdue_report.access.denied',
      'overdue_report.acknowledged',
      'overdue_report.reported',
    ]);

    // The bank's unacknowledged list, and the operators' list of records not acknowledged in time.
    expect((await records('?unacknowledged=true')).data.map((r: { status: string }) => r.status)).toEqual(['UPDATED', 'CURED']);
    expect((await bankGet('/partner/v1/overdue-reports?unacknowledged=maybe')).statusCode).toBe(400);
    const late = await inject(api, {
      method: 'GET',
      url: `/v1/admin/overdue-reports?unacknowledged=true&olderThanHours=0&partner=${bank.code}`,
      headers: adminHeaders(),
    });
    expect(late.json().data.map((r: { status: string; partnerCode: string }) => [r.status, r.partnerCode])).toEqual([
      ['UPDATED', bank.code],
      ['CURED', bank.code],
    ]);
    const notYet = await inject(api, {
      method: 'GET',
      url: `/v1/admin/overdue-reports?unacknowledged=true&olderThanHours=72&partner=${bank.code}`,
      headers: adminHeaders(),
    });
    expect(notYet.json()).toEqual({ data: [], nextCursor: null });
  });

  it('refuses a second scan while one is active, and answers 404 for an unknown scan', async () => {
    await worker!.close();
    worker = undefined;
    const queued = await startScan(api, D[6]);
    expect(queued.statusCode).toBe(202);
    const busy = await startScan(api, D[6]);
    expect(busy.statusCode).toBe(409);
    expect(busy.json().type).toBe('https://errors.referral-gateway.dev/overdue-scan-in-progress');
    expect((await getScan(api, queued.json().id)).status).toBe('QUEUED');
    expect((await inject(api, { method: 'GET', url: '/v1/admin/overdue-scans/osc_999999999', headers: adminHeaders() })).statusCode).toBe(
      404,
    );
    worker = await startWorker();
    await untilScanEnded(api, queued.json().id);
  });

  it('the CLI starts a scan, follows it to the end and reads its status', async () => {
    const logs: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void logs.push(line));
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const program = new Command().exitOverride();
      registerOverdueCli(program);
      await program.parseAsync(['node', 'cli', 'overdue:scan', '--as-of', D[6], '--wait', '--poll', '100']);
      expect(err).toHaveBeenCalledWith(expect.stringMatching(/osc_\S+ \S+ (QUEUED|RUNNING|COMPLETED)/));
      const view = JSON.parse(logs[logs.length - 1]);
      expect(view).toEqual(expect.objectContaining({ asOf: D[6], status: 'COMPLETED' }));
      // The same date again: nothing new.
      expect(view.counts).toEqual({ ...view.counts, noticesSent: 0, noticesCancelled: 0, reported: 0, updated: 0, cured: 0 });
      const status = new Command().exitOverride();
      registerOverdueCli(status);
      await status.parseAsync(['node', 'cli', 'overdue:scan-status', view.id]);
      expect(JSON.parse(logs[logs.length - 1])).toEqual(view);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  });

  it('a scan whose worker is SIGKILLed mid-way is finished by another worker without a duplicate record', async () => {
    // 12,000 cardholders whose notice period has passed, seeded set-based (the flow above is what makes them for real).
    const N = 12_000;
    const prefix = `ovk${randomBytes(3).toString('hex')}_`;
    const seeded = Array.from({ length: N }, (_, i) => `${prefix}${String(i).padStart(6, '0')}`);
    const [partner] = await db.query('SELECT id FROM partners WHERE code = ?', [bank.code]);
    const [product] = await db.query(
      'SELECT product_id, version FROM card_product_versions v JOIN card_products p ON p.id = v.product_id WHERE p.partner_id = ?',
      [partner.id],
    );
    for (let i = 0; i < N; i += 2000) {
      const slice = seeded.slice(i, i + 2000);
      await db.query(
        `INSERT INTO credit_records (user_id, record_version, as_of, identity_enc, national_id_hash, phone_hash, current_dpd, overdue_amount, current_dpd_as_of) VALUES ?`,
        [slice.map((u) => [u, 1, D[0], randomBytes(16), randomBytes(32), randomBytes(32), 45, '450.00', D[0]])],
      );
      await db.query(
        `INSERT INTO consents (user_id, partner_id, product_id, product_version, text_version, text_sha256, purpose, shared_fields, retention_days) VALUES ?`,
        [slice.map((u) => [u, partner.id, product.product_id, product.version, 1, '0'.repeat(64), 'test', '[]', 365])],
      );
    }
    const like = `${prefix}%`;
    await db.query(
      `INSERT INTO referrals (user_id, partner_id, product_id, product_version, offer_id, consent_id, run_id, record_version, user_ref, status, expires_at)
       SELECT user_id, partner_id, product_id, product_version, id + 1000000000000, id, 0, 1, LEFT(SHA2(user_id, 256), 43), 'APPROVED', NOW(3)
         FROM consents WHERE user_id LIKE ?`,
      [like],
    );
    await db.query(
      `INSERT INTO cardholders (partner_id, user_id, referral_id, approved_at) SELECT partner_id, user_id, id, NOW(3) FROM referrals WHERE user_id LIKE ?`,
      [like],
    );
    await db.query(
      `INSERT INTO overdue_notices (referral_id, partner_id, user_id, dpd, overdue_amount, state_as_of, notice_date, share_on, scan_id, sent_at)
       SELECT id, partner_id, user_id, 45, 450.00, ?, ?, ?, 0, NOW(3) FROM referrals WHERE user_id LIKE ?`,
      [D[0], D[0], D[1], like],
    );
    await db.query(
      `INSERT INTO overdue_accounts (referral_id, partner_id, user_id, status, notice_id)
       SELECT referral_id, partner_id, user_id, 'NOTICE_PENDING', id FROM overdue_notices WHERE user_id LIKE ?`,
      [like],
    );

    ensureBuilt();
    await worker!.close();
    worker = undefined;
    let output = '';
    child = spawn(process.execPath, [BUILT_GATEWAY, 'worker'], {
      cwd: ROOT,
      env: { ...process.env, WORKER_CONCURRENCY: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const started = await startScan(api, D[6], { chunkSize: 1000 });
    expect(started.statusCode).toBe(202);
    const id = started.json().id as string;
    const key = scanKeyOf(id)!;
    const chunkSums = async () =>
      (
        await db.query(
          `SELECT COUNT(*) AS done, COALESCE(SUM(reported), 0) AS reported FROM overdue_scan_chunks WHERE scan_id = ? AND status = 'DONE'`,
          [key],
        )
      )[0];
    await eventually(
      async () => {
        if (child!.exitCode !== null) throw new Error(`the worker exited early (${child!.exitCode}): ${output}`);
        return Number((await chunkSums()).done) >= 3;
      },
      90_000,
      20,
    );
    child.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;

    // Part-way: exactly the records of the chunks that committed, each once.
    const halfway = await getScan(api, id);
    expect(halfway.status).toBe('RUNNING');
    const sums = await chunkSums();
    expect(halfway.counts.reported).toBe(Number(sums.reported));
    expect(halfway.progress.evaluated).toBeLessThan(halfway.progress.total);
    const [partial] = await db.query('SELECT COUNT(*) AS n FROM overdue_records WHERE user_id LIKE ?', [like]);
    expect(Number(partial.n)).toBe(Number(sums.reported));
    expect(Number(partial.n)).toBeLessThan(N);

    // Another worker takes over the killed worker's jobs once their locks lapse (lockDurationMs 5000 in tests).
    worker = await startWorker();
    const done = await untilScanEnded(api, id, 120_000);
    // Other cardholders of the suite may be reported too; each seeded one exactly once.
    expect(done.counts.reported).toBeGreaterThanOrEqual(N);
    const [stored] = await db.query(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT referral_id) AS referrals, SUM(status = 'NEW') AS new FROM overdue_records WHERE user_id LIKE ?`,
      [like],
    );
    expect(stored).toEqual({ n: String(N), referrals: String(N), new: String(N) });
    // One SET per record of the partner (Alice's three and the seeded ones), each record's own.
    const [events] = await db.query(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT txn) AS txns FROM partner_events WHERE partner_id = ? AND event_type LIKE 'overdue.%'`,
      [partner.id],
    );
    const [ofPartner] = await db.query('SELECT COUNT(*) AS n FROM overdue_records WHERE partner_id = ?', [partner.id]);
    expect(events).toEqual({ n: ofPartner.n, txns: ofPartner.n });
    expect(Number(ofPartner.n)).toBeGreaterThanOrEqual(N);
    const [ledger] = await db.query(`SELECT COUNT(*) AS n FROM disclosures WHERE kind = 'OVERDUE_REPORT' AND user_id LIKE ?`, [like]);
    expect(Number(ledger.n)).toBe(N);
    expect(await db.query(`SELECT status, COUNT(*) AS n FROM overdue_notices WHERE user_id LIKE ? GROUP BY status`, [like])).toEqual([
      { status: 'SHARED', n: String(N) },
    ]);
    const [chunks] = await db.query(`SELECT COUNT(*) AS n, SUM(status = 'DONE') AS done FROM overdue_scan_chunks WHERE scan_id = ?`, [key]);
    expect(chunks.done).toBe(chunks.n);

    // The seeded population would slow every later scan of the suite (which shares this database): remove it.
    await db.query('DELETE FROM partner_events WHERE partner_id = ?', [partner.id]);
    for (const table of [
      'overdue_records',
      'overdue_accounts',
      'overdue_notices',
      'disclosures',
      'cardholders',
      'referrals',
      'consents',
      'repayment_states',
      'credit_records',
    ]) {
      await db.query(`DELETE FROM ${table} WHERE user_id LIKE ?`, [like]);
    }
  });
});
