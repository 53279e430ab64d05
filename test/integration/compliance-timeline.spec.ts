import { randomUUID } from 'node:crypto';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { AuditRepository } from '../../src/modules/audit/audit.repository';
import { AuditWriter } from '../../src/modules/audit/audit.writer';
import { AuditChainer } from '../../src/modules/audit/audit-chainer.service';
import { CreditRecordsService } from '../../src/modules/credit-records/credit-records.service';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { makeCardholders, postRepaymentStatus, scan, scanDates } from '../support/overdue-flow';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { userHeaders, userIds } from '../support/referral-flow';

/**
 * GET /v1/compliance/users/{userId}/timeline on real MariaDB and Redis, through the HTTP API: a cardholder's whole
 * story (offer, consent, application and its states, the bank's approval, the file's disclosure, an overdue notice,
 * the report to the bank, a delinquency the bank reported) comes back in time order, the same across pages, each
 * entry pointing at its audit event; the read is audited with the user's hash; no other compliance answer names them.
 */
jest.setTimeout(240_000);

const PROBLEM = 'application/problem+json';

interface Entry {
  at: string;
  kind: string;
  partner?: string;
  referralId?: string;
  summary: string;
  auditSeq?: number;
}

describe('compliance timeline', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let worker: INestApplicationContext | undefined;
  const bank = new BankClient(uniqueCode('TL'));
  const [alice, bob] = userIds(2);
  let refs: string[];
  let identity: { name: string; nationalId: string; phone: string };
  const officer = `officer-${randomUUID().slice(0, 8)}`;
  const compliance = () => ({ authorization: `Bearer ${platformToken(['compliance'], officer)}` });
  const get = (url: string, headers: Record<string, string> = compliance()) => inject(api, { method: 'GET', url, headers });
  const timelineUrl = (userId: string, query = '') => `/v1/compliance/users/${encodeURIComponent(userId)}/timeline${query}`;

  const chainAll = () =>
    eventually(async () => {
      await api.get(AuditChainer).drain();
      return (await api.get(AuditRepository).inboxSize()) === 0;
    }, 30_000);

  /** Every page of alice's timeline, following nextCursor. */
  async function allPages(limit: number): Promise<Entry[]> {
    const out: Entry[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 200; pages++) {
      const res = await get(timelineUrl(alice, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.data.length).toBeLessThanOrEqual(limit);
      out.push(...body.data);
      cursor = body.nextCursor;
      if (cursor === null) return out;
    }
    throw new Error('the cursor never ended');
  }

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    worker = await startWorker();
    // Offer (pre-screen), consent and application, packaging, the bank's fetch (disclosure) and approval.
    refs = await makeCardholders(api, db, bank, [alice, bob], { overdueThresholdDays: 30, noticeDays: 1 });
    const record = await api.get(CreditRecordsService).currentRecord(alice);
    identity = record!.identity;

    // Alice falls 35 days behind: noticed on the first date, reported to the bank the next.
    const D = await scanDates(db, 2);
    await postRepaymentStatus(api, [{ userId: alice, currentDpd: 35, overdueAmount: '500.00', asOf: D[0] }]);
    await scan(api, D[0]);
    await eventually(async () => {
      const rows: { sent_at: Date | null }[] = await db.query('SELECT sent_at FROM overdue_notices WHERE user_id = ?', [alice]);
      return rows.length === 1 && rows[0].sent_at !== null;
    });
    await scan(api, D[1]);
    const [{ n }] = await db.query('SELECT COUNT(*) AS n FROM overdue_records WHERE user_id = ?', [alice]);
    expect(Number(n)).toBe(1);

    // The bank reports a delinquency of its own.
    const token = await bank.accessToken(api);
    const reported = await inject(api, {
      method: 'POST',
      url: '/partner/v1/delinquencies',
      headers: { authorization: `Bearer ${token}` },
      payload: { referralId: refs[0], dpd: 45, amountOverdue: '1234.50', asOf: new Date().toISOString().slice(0, 10) },
    });
    expect(reported.statusCode).toBe(201);
    await chainAll();
  });

  afterAll(async () => {
    await worker?.close();
    await api?.close();
  });

  it("answers the user's name block and every kind of entry in time order, with the partner, referral and audit event", async () => {
    const res = await get(timelineUrl(alice));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toEqual({ userId: alice, name: 'Applicant 0', nationalIdLast4: identity.nationalId.slice(-4) });
    expect(body.user.nationalIdLast4).toHaveLength(4);
    expect(body.nextCursor).toBeNull();
    const data: Entry[] = body.data;

    // Time order (then kind, then the row's own order).
    const times = data.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));

    const first = (kind: string, summary?: RegExp) => {
      const i = data.findIndex((e) => e.kind === kind && (!summary || summary.test(e.summary)));
      expect([kind, String(summary), i >= 0]).toEqual([kind, String(summary), true]);
      return i;
    };
    const story = [
      first('offer'),
      first('consent.granted'),
      first('application.state', /submitted \(PACKAGING\)/),
      first('application.state', /PACKAGING → READY/),
      first('application.state', /READY → DELIVERED/),
      first('disclosure', /^REFERRAL_FILE/),
      first('application.state', /→ APPROVED/),
      first('decision', /^APPROVED/),
      first('overdue.notice'),
      first('overdue.record', /NEW/),
      first('disclosure', /^OVERDUE_REPORT/),
      first('delinquency'),
    ];
    // Entries written by one transaction may fall either way round (their times are its statements'): in blocks.
    const blocks = [[0], [1, 2], [3], [4, 5], [6, 7], [8], [9, 10], [11]].map((b) => b.map((i) => story[i]));
    for (let b = 1; b < blocks.length; b++) {
      expect([b, Math.max(...blocks[b - 1]) < Math.min(...blocks[b])]).toEqual([b, true]);
    }
    expect(new Set(data.map((e) => e.kind))).toEqual(
      new Set([
        'offer',
        'consent.granted',
        'application.state',
        'decision',
        'disclosure',
        'overdue.notice',
        'overdue.record',
        'delinquency',
      ]),
    );

    // Every entry is this bank's; every entry but the offer (made before any referral) names alice's referral only.
    for (const e of data) {
      expect([e.kind, e.partner]).toEqual([e.kind, bank.code]);
      if (e.kind !== 'offer') expect([e.kind, e.referralId]).toEqual([e.kind, refs[0]]);
    }
    expect(JSON.stringify(data)).not.toContain(refs[1]);
    expect(data[story[7]].summary).toMatch(/^APPROVED for CARD_/);
    expect(data[story[11]].summary).toContain('45 days past due, 1234.50 overdue');

    // auditSeq names an event about alice, of the entry's action, on the entry's resource.
    const expectedAction: Record<number, string> = {
      [story[1]]: 'application.submitted',
      [story[2]]: 'application.submitted',
      [story[3]]: 'referral.packaged',
      [story[4]]: 'referral.file.disclosed',
      [story[5]]: 'referral.file.disclosed',
      [story[6]]: 'referral.decided',
      [story[7]]: 'referral.decided',
      [story[8]]: 'overdue_notice.sent',
      [story[9]]: 'overdue_report.reported',
      [story[11]]: 'delinquency.reported',
    };
    const aliceHash = api.get(AuditWriter).subjectHash(alice);
    for (const [index, action] of Object.entries(expectedAction)) {
      const e = data[Number(index)];
      expect([e.kind, typeof e.auditSeq]).toEqual([e.kind, 'number']);
      const [event] = await db.query('SELECT action, resource_type, resource_id, subject_user_hash FROM audit_events WHERE seq = ?', [
        e.auditSeq,
      ]);
      expect([e.kind, event.action, event.subject_user_hash]).toEqual([e.kind, action, aliceHash]);
      if (event.resource_type === 'referral') expect(event.resource_id).toBe(refs[0]);
    }
    // The offer has no event of its own, nor does an overdue report's disclosure row.
    expect(data[story[0]].auditSeq).toBeUndefined();
    expect(data[story[10]].auditSeq).toBeUndefined();

    // PII only in the name block: summaries carry no name, national id or phone.
    const entriesText = JSON.stringify(data);
    for (const secret of [identity.name, identity.nationalId, identity.phone]) expect(entriesText).not.toContain(secret);
  });

  it('pages across the cursor to the same sequence, whatever the page size', async () => {
    const whole = (await get(timelineUrl(alice, '?limit=500'))).json().data;
    expect(whole.length).toBeGreaterThanOrEqual(12);
    for (const limit of [1, 2, 3, 7]) expect([limit, await allPages(limit)]).toEqual([limit, whole]);
  });

  it('refuses a bad limit or cursor (400 naming the field) and an unknown user (404), each audited', async () => {
    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?limit=501', 'limit'],
      ['?cursor=not-a-cursor', 'cursor'],
      ['?userId=x', 'userId'],
    ]) {
      const res = await get(timelineUrl(alice, query));
      expect([query, res.statusCode, res.headers['content-type']]).toEqual([query, 400, expect.stringContaining(PROBLEM)]);
      expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    // A cursor of another list (the disclosures') is not a timeline cursor.
    const disclosures = (await get(`/v1/compliance/users/${alice}/disclosures?limit=1`)).json();
    expect(disclosures.nextCursor).toEqual(expect.any(String));
    expect((await get(timelineUrl(alice, `?cursor=${disclosures.nextCursor}`))).statusCode).toBe(400);

    const nobody = `nobody_${randomUUID().slice(0, 8)}`;
    const res = await inject(api, {
      method: 'GET',
      url: timelineUrl(nobody),
      headers: { ...compliance(), 'x-request-id': `tl-404-${nobody}` },
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain(PROBLEM);
    expect(res.json()).toMatchObject({ status: 404, instance: `tl-404-${nobody}` });
    const entry = await auditedRead(`tl-404-${nobody}`);
    expect(entry).toMatchObject({ outcome: 'FAILURE', http_status: 404, subject_user_hash: api.get(AuditWriter).subjectHash(nobody) });
  });

  /** The compliance.read entry of a request, wherever the chainer has got to (one statement: one consistent read). */
  async function auditedRead(requestId: string): Promise<Record<string, unknown>> {
    const columns = 'actor_type, actor_id, outcome, http_status, subject_user_hash, details';
    const rows = await eventually(async () => {
      const found: Record<string, unknown>[] = await db.query(
        `SELECT ${columns} FROM audit_inbox WHERE action = 'compliance.read' AND request_id = ?
         UNION ALL SELECT ${columns} FROM audit_events WHERE action = 'compliance.read' AND request_id = ?`,
        [requestId, requestId],
      );
      return found.length ? found : undefined;
    });
    expect(rows).toHaveLength(1);
    return rows![0];
  }

  it('records the read as compliance.read with the officer and the subject hash, and no name', async () => {
    const requestId = `tl-read-${randomUUID().slice(0, 8)}`;
    const res = await inject(api, {
      method: 'GET',
      url: timelineUrl(alice, '?limit=5'),
      headers: { ...compliance(), 'x-request-id': requestId },
    });
    expect(res.statusCode).toBe(200);
    const entry = await auditedRead(requestId);
    const hash = api.get(AuditWriter).subjectHash(alice);
    expect(entry).toMatchObject({
      actor_type: 'compliance',
      actor_id: officer,
      outcome: 'SUCCESS',
      http_status: 200,
      subject_user_hash: hash,
    });
    const details = typeof entry.details === 'string' ? JSON.parse(entry.details) : entry.details;
    expect(details).toEqual({
      route: '/v1/compliance/users/:userId/timeline',
      filters: { limit: '5', userHash: hash },
      returned: 5,
    });
    expect(JSON.stringify(entry)).not.toContain(identity.name);
    expect(JSON.stringify(entry)).not.toContain(alice);
  });

  it('refuses other principals: 401 without a token, 403 for user, operator and platform, 401/403 for a partner', async () => {
    const url = timelineUrl(alice);
    expect((await get(url, {})).statusCode).toBe(401);
    expect((await get(url, { authorization: 'Bearer not-a-token' })).statusCode).toBe(401);
    for (const headers of [userHeaders(alice), adminHeaders(), { authorization: `Bearer ${platformToken(['platform'])}` }]) {
      const res = await get(url, headers);
      expect([res.statusCode, res.headers['content-type']]).toEqual([403, expect.stringContaining(PROBLEM)]);
      expect(res.body).not.toContain(identity.name);
    }
    const partner = await get(url, { authorization: `Bearer ${await bank.accessToken(api)}` });
    expect([401, 403]).toContain(partner.statusCode);
    expect(partner.body).not.toContain(identity.name);
  });

  it('no other compliance answer contains the name or the national id', async () => {
    await chainAll();
    const answers = [
      await get(`/v1/compliance/audit-events?userId=${alice}&limit=500`),
      await get('/v1/compliance/audit-events?limit=500'),
      await get(`/v1/compliance/audit-events/export?format=ndjson&userId=${alice}`),
      await get('/v1/compliance/audit-events/export?format=csv'),
      await get(`/v1/compliance/users/${alice}/disclosures`),
      await get('/v1/compliance/audit/verify'),
    ];
    for (const res of answers) expect(res.statusCode).toBe(200);
    // The search found alice's trail, so the absence below is not of an empty answer.
    expect(answers[0].json().data.length).toBeGreaterThanOrEqual(8);
    for (const res of answers) {
      for (const secret of [identity.name, identity.nationalId, identity.phone]) expect(res.body).not.toContain(secret);
    }
    // ...while the timeline has the name exactly once, in its user block.
    const timeline = await get(timelineUrl(alice));
    expect(timeline.body.split(identity.name)).toHaveLength(2);
    expect(timeline.body).not.toContain(identity.nationalId);
  });

  // Last: it rewrites alice's times.
  it('pages exactly through entries of several kinds at one millisecond (the cursor breaks ties by kind, then id)', async () => {
    const at = new Date(Date.now() - 3_600_000);
    const [referral] = await db.query('SELECT id FROM referrals WHERE user_id = ?', [alice]);
    await db.query('UPDATE referral_timeline SET at = ? WHERE referral_id = ?', [at, referral.id]);
    await db.query('UPDATE consents SET granted_at = ? WHERE user_id = ?', [at, alice]);
    await db.query('UPDATE offers SET created_at = ? WHERE user_id = ?', [at, alice]);
    await db.query('UPDATE disclosures SET disclosed_at = ? WHERE user_id = ?', [at, alice]);
    const whole: Entry[] = (await get(timelineUrl(alice, '?limit=500'))).json().data;
    const tied = whole.filter((e) => e.at === at.toISOString());
    expect(tied.length).toBeGreaterThanOrEqual(8);
    // At one time: by kind, then by the order the rows were written.
    expect(tied.map((e) => e.kind)).toEqual([...tied.map((e) => e.kind)].sort());
    expect(tied.filter((e) => e.kind === 'application.state').map((e) => e.summary)).toEqual([
      expect.stringContaining('submitted (PACKAGING)'),
      expect.stringContaining('PACKAGING → READY'),
      expect.stringContaining('READY → DELIVERED'),
      expect.stringContaining('→ APPROVED'),
    ]);
    for (const limit of [1, 2, 3, 5]) expect([limit, await allPages(limit)]).toEqual([limit, whole]);
  });
});
