import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { DecisionApplyProcessor } from '../../src/modules/decisions/decision-apply.processor';
import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { ReferralTransitions } from '../../src/modules/referrals/referral-transitions';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { applyAfterPrescreen, createProduct, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Bank decisions through the partner API on real MariaDB and Redis: every transition allowed and refused, the state
 * machine under 50 concurrent conflicting decisions, Idempotency-Key replay, bulk NDJSON with mixed lines, and the
 * decision job (run twice, directly and through the worker).
 */
jest.setTimeout(120_000);

describe('decisions', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let other: BankClient;
  let token: string;
  let otherToken: string;
  let productCode: string;
  const users = userIds(14);
  const refs: string[] = [];
  const key = rowKey;
  const now = () => new Date().toISOString();
  const auth = (t = token) => ({ authorization: `Bearer ${t}` });
  const decide = (ref: string, payload: object, headers: Record<string, string> = {}, t = token) =>
    inject(api, { method: 'POST', url: `/partner/v1/referrals/${ref}/decision`, headers: { ...auth(t), ...headers }, payload });
  const bulk = (body: string, t = token) =>
    inject(api, {
      method: 'POST',
      url: '/partner/v1/decisions',
      headers: { ...auth(t), 'content-type': 'application/x-ndjson' },
      payload: body,
    });
  const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  const statusOf = async (ref: string) => (await db.query('SELECT status FROM referrals WHERE id = ?', [key(ref)]))[0].status;
  const outboxRows = (ref: string) =>
    db.query("SELECT job_name FROM outbox WHERE queue = 'decisions' AND JSON_UNQUOTE(JSON_EXTRACT(payload, '$.referralId')) = ?", [
      key(ref),
    ]);

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('DC'));
    other = new BankClient(uniqueCode('DO'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    await registerPartner(api, other.code, { keys: [other.publicJwk()] });
    productCode = await createProduct(api, bank.code, ['applicant.name', 'creditRecord.score']);
    refs.push(...(await applyAfterPrescreen(api, users, productCode)));
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
    // refs[3] stays PACKAGING; refs[2] stays READY; every other one is packaged and fetched (DELIVERED).
    for (const [i, ref] of refs.entries()) {
      if (i === 3) continue;
      await api.get(ReferralPackagingProcessor).package({ referralId: key(ref), correlationId: 'test' });
      if (i !== 2)
        expect((await inject(api, { method: 'GET', url: `/partner/v1/referrals/${ref}`, headers: auth() })).statusCode).toBe(200);
    }
  });

  afterAll(async () => {
    await api?.close();
  });

  it('approves a delivered referral, stores the decision, audits it and writes the decision job; the same decision again answers the same', async () => {
    const body = { decision: 'APPROVED', decidedAt: now(), creditLimit: '20000.00', cardLast4: '4321' };
    const res = await decide(refs[0], body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      id: refs[0],
      productCode,
      status: 'APPROVED',
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      decision: { decision: 'APPROVED', decidedAt: new Date(body.decidedAt).toISOString(), creditLimit: '20000.00', cardLast4: '4321' },
    });
    const [row] = await db.query('SELECT status, decision, decided_at FROM referrals WHERE id = ?', [key(refs[0])]);
    expect(row.status).toBe('APPROVED');
    expect(row.decided_at).not.toBeNull();
    expect(json(row.decision)).toEqual(res.json().decision);
    expect(
      await db.query('SELECT from_status, to_status, actor_id FROM referral_timeline WHERE referral_id = ? AND to_status = ?', [
        key(refs[0]),
        'APPROVED',
      ]),
    ).toEqual([{ from_status: 'DELIVERED', to_status: 'APPROVED', actor_id: bank.code }]);
    expect(await outboxRows(refs[0])).toEqual([{ job_name: 'decision.apply' }]);
    // Audited in the decision's transaction: in the inbox, or already chained by the worker's chainer.
    const audited = async () =>
      (await db.query("SELECT action FROM audit_inbox WHERE resource_id = ? AND action = 'referral.decided'", [refs[0]])).length +
      (await db.query("SELECT action FROM audit_events WHERE resource_id = ? AND action = 'referral.decided'", [refs[0]])).length;
    expect(await audited()).toBe(1);

    // The same final decision again (even restamped) answers like the first and changes nothing.
    const again = await decide(refs[0], { ...body, decidedAt: now() });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(res.json());
    expect(await outboxRows(refs[0])).toHaveLength(1);

    // A different final decision, different terms, or a step back are 409.
    for (const conflicting of [
      { decision: 'DECLINED', decidedAt: now() },
      { decision: 'APPROVED', decidedAt: now(), creditLimit: '5000.00', cardLast4: '4321' },
      { decision: 'PENDING_REVIEW', decidedAt: now() },
    ]) {
      const r = await decide(refs[0], conflicting);
      expect([conflicting.decision, r.statusCode]).toEqual([conflicting.decision, 409]);
      expect(r.json().type).toBe('https://errors.referral-gateway.dev/decision-conflict');
    }
    expect(await statusOf(refs[0])).toBe('APPROVED');
  });

  it('goes ACKNOWLEDGED → PENDING_REVIEW (repeat answered like the first, no job) → DECLINED', async () => {
    expect(
      (await inject(api, { method: 'POST', url: `/partner/v1/referrals/${refs[1]}/acknowledgement`, headers: auth() })).statusCode,
    ).toBe(200);
    const first = await decide(refs[1], { decision: 'PENDING_REVIEW', decidedAt: now() });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({ status: 'PENDING_REVIEW', decision: { decision: 'PENDING_REVIEW' } });
    const repeat = await decide(refs[1], { decision: 'PENDING_REVIEW', decidedAt: now() });
    expect(repeat.statusCode).toBe(200);
    expect(repeat.json()).toEqual(first.json());
    expect(await outboxRows(refs[1])).toEqual([]);
    const declined = await decide(refs[1], { decision: 'DECLINED', decidedAt: now(), declineReasons: ['INCOME_TOO_LOW', 'DTI_HIGH'] });
    expect(declined.statusCode).toBe(200);
    expect(declined.json()).toMatchObject({
      status: 'DECLINED',
      decision: { decision: 'DECLINED', declineReasons: ['INCOME_TOO_LOW', 'DTI_HIGH'] },
    });
    expect(
      (await db.query('SELECT from_status, to_status FROM referral_timeline WHERE referral_id = ? ORDER BY id', [key(refs[1])])).map(
        (t: { to_status: string }) => t.to_status,
      ),
    ).toEqual(['PACKAGING', 'READY', 'DELIVERED', 'ACKNOWLEDGED', 'PENDING_REVIEW', 'DECLINED']);
    expect(await outboxRows(refs[1])).toHaveLength(1);
  });

  it('refuses a decision on a file not received (READY 409), a PACKAGING referral (404), WITHDRAWN and EXPIRED (409)', async () => {
    const ready = await decide(refs[2], { decision: 'APPROVED', decidedAt: now() });
    expect(ready.statusCode).toBe(409);
    expect(ready.json().type).toBe('https://errors.referral-gateway.dev/referral-not-delivered');
    expect(await statusOf(refs[2])).toBe('READY');
    expect((await decide(refs[3], { decision: 'APPROVED', decidedAt: now() })).statusCode).toBe(404);

    const withdraw = await inject(api, { method: 'POST', url: `/v1/me/applications/${refs[4]}/withdraw`, headers: userHeaders(users[4]) });
    expect(withdraw.statusCode).toBe(200);
    await api
      .get(TransactionRunner)
      .run((m) => api.get(ReferralTransitions).move(m, key(refs[5]), 'EXPIRED', { type: 'system', id: 'test' }));
    for (const ref of [refs[4], refs[5]]) {
      for (const decision of ['APPROVED', 'DECLINED', 'PENDING_REVIEW']) {
        const r = await decide(ref, { decision, decidedAt: now() });
        expect([decision, r.statusCode, r.json().type]).toEqual([decision, 409, 'https://errors.referral-gateway.dev/referral-closed']);
      }
    }
    expect([await statusOf(refs[4]), await statusOf(refs[5])]).toEqual(['WITHDRAWN', 'EXPIRED']);
  });

  it("answers another partner's referral, unknown and malformed ids 404, and needs referrals:decide", async () => {
    const foreign = await decide(refs[12], { decision: 'APPROVED', decidedAt: now() }, {}, otherToken);
    expect(foreign.statusCode).toBe(404);
    expect(await statusOf(refs[12])).toBe('DELIVERED');
    for (const id of ['ref_0', 'ref_999999999', 'ofr_1', 'nonsense'])
      expect((await decide(id, { decision: 'APPROVED', decidedAt: now() })).statusCode).toBe(404);
    const readOnly = await bank.accessToken(api, 'referrals:read');
    expect((await decide(refs[12], { decision: 'APPROVED', decidedAt: now() }, {}, readOnly)).statusCode).toBe(403);
    expect((await bulk(JSON.stringify({ referralId: refs[12], decision: 'APPROVED', decidedAt: now() }), readOnly)).statusCode).toBe(403);
  });

  it('validates the body: fields by decision, decidedAt neither in the future nor before the referral existed', async () => {
    const [{ created_at }] = await db.query('SELECT created_at FROM referrals WHERE id = ?', [key(refs[12])]);
    const createdSecond = Math.floor(new Date(created_at).getTime() / 1000) * 1000;
    const cases: [object, string][] = [
      [{ decision: 'APPROVED', decidedAt: new Date(Date.now() + 6 * 60_000).toISOString() }, 'decidedAt'],
      [{ decision: 'APPROVED', decidedAt: new Date(createdSecond - 1000).toISOString() }, 'decidedAt'],
      [{ decision: 'APPROVED', decidedAt: '2026-13-01T00:00:00Z' }, 'decidedAt'],
      [{ decision: 'APPROVED', decidedAt: '2026-11-22 08:00:00' }, 'decidedAt'],
      [{ decision: 'APPROVED' }, 'decidedAt'],
      [{ decision: 'MAYBE', decidedAt: now() }, 'decision'],
      [{ decision: 'APPROVED', decidedAt: now(), declineReasons: ['X'] }, 'declineReasons'],
      [{ decision: 'DECLINED', decidedAt: now(), creditLimit: '100.00' }, 'creditLimit'],
      [{ decision: 'PENDING_REVIEW', decidedAt: now(), cardLast4: '1234' }, 'cardLast4'],
      [{ decision: 'APPROVED', decidedAt: now(), creditLimit: 15000 }, 'creditLimit'],
      [{ decision: 'APPROVED', decidedAt: now(), creditLimit: '0.00' }, 'creditLimit'],
      [{ decision: 'APPROVED', decidedAt: now(), cardLast4: '12a4' }, 'cardLast4'],
      [{ decision: 'DECLINED', decidedAt: now(), declineReasons: ['lower case'] }, 'declineReasons.0'],
      [{ decision: 'DECLINED', decidedAt: now(), declineReasons: [] }, 'declineReasons'],
      [{ decision: 'APPROVED', decidedAt: now(), status: 'APPROVED' }, 'status'],
    ];
    for (const [body, field] of cases) {
      const r = await decide(refs[12], body);
      expect([JSON.stringify(body), r.statusCode]).toEqual([JSON.stringify(body), 400]);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(r.json().errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await statusOf(refs[12])).toBe('DELIVERED');
    // The same second as createdAt (sub-second earlier) is accepted: the comparison is to the second.
    const sameSecond = await decide(refs[12], { decision: 'PENDING_REVIEW', decidedAt: new Date(createdSecond).toISOString() });
    expect(sameSecond.statusCode).toBe(200);
  });

  it('lets exactly one of 50 concurrent conflicting decisions win; the other 49 get 409', async () => {
    const ref = refs[6];
    const bodies = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0
        ? { decision: 'APPROVED', decidedAt: now(), creditLimit: `${1000 + i}.00` }
        : { decision: 'DECLINED', decidedAt: now(), declineReasons: [`REASON_${i}`] },
    );
    const answers = await Promise.all(bodies.map((b) => decide(ref, b)));
    const statuses = answers.map((a) => a.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    const winner = answers.find((a) => a.statusCode === 200)!.json();
    expect(await statusOf(ref)).toBe(winner.status);
    const [{ decision }] = await db.query('SELECT decision FROM referrals WHERE id = ?', [key(ref)]);
    expect(json(decision)).toEqual(winner.decision);
    expect(
      await db.query("SELECT to_status FROM referral_timeline WHERE referral_id = ? AND to_status IN ('APPROVED','DECLINED')", [key(ref)]),
    ).toHaveLength(1);
    expect(await outboxRows(ref)).toHaveLength(1);
  });

  it('honours Idempotency-Key: the same key and body replays the stored answer, another body is 422', async () => {
    const body = { decision: 'APPROVED', decidedAt: now(), creditLimit: '8000.00' };
    const headers = { 'idempotency-key': `dec-${refs[7]}` };
    const first = await decide(refs[7], body, headers);
    expect(first.statusCode).toBe(200);
    const replay = await decide(refs[7], body, headers);
    expect(replay.statusCode).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toBe(first.body);
    const reused = await decide(refs[7], { ...body, creditLimit: '9000.00' }, headers);
    expect(reused.statusCode).toBe(422);
    // Replayed: the conflicting terms never reached the state machine.
    expect(json((await db.query('SELECT decision FROM referrals WHERE id = ?', [key(refs[7])]))[0].decision).creditLimit).toBe('8000.00');
    expect(await outboxRows(refs[7])).toHaveLength(1);
  });

  it('answers every bulk line on its own, with the status it would have had alone', async () => {
    const t = now();
    const lines = [
      JSON.stringify({ referralId: refs[8], decision: 'PENDING_REVIEW', decidedAt: t }),
      JSON.stringify({ referralId: refs[8], decision: 'APPROVED', decidedAt: t, cardLast4: '0001' }),
      '{not json',
      JSON.stringify({ referralId: 'ref_999999999', decision: 'APPROVED', decidedAt: t }),
      JSON.stringify({ referralId: refs[9], decision: 'DECLINED', decidedAt: t, creditLimit: '1.00' }),
      '',
      JSON.stringify({ referralId: refs[2], decision: 'APPROVED', decidedAt: t }),
      JSON.stringify({ referralId: refs[0], decision: 'APPROVED', decidedAt: t, creditLimit: '20000.00', cardLast4: '4321' }),
      JSON.stringify({ referralId: refs[0], decision: 'DECLINED', decidedAt: t }),
      JSON.stringify({ decision: 'DECLINED', decidedAt: t }),
      JSON.stringify({ referralId: refs[9], decision: 'DECLINED', decidedAt: t }),
    ];
    const res = await bulk(lines.join('\n') + '\n');
    expect(res.statusCode).toBe(200);
    const results = res.json().results as {
      line: number;
      referralId: string | null;
      status: number;
      problem?: { status: number; instance: string; type: string };
    }[];
    expect(results.map((r) => [r.line, r.referralId, r.status])).toEqual([
      [1, refs[8], 200],
      [2, refs[8], 200],
      [3, null, 400],
      [4, 'ref_999999999', 404],
      [5, refs[9], 400],
      [7, refs[2], 409],
      [8, refs[0], 200],
      [9, refs[0], 409],
      [10, null, 400],
      [11, refs[9], 200],
    ]);
    for (const r of results) {
      if (r.status < 400) expect(r.problem).toBeUndefined();
      else
        expect(r.problem).toMatchObject({
          status: r.status,
          instance: res.headers['x-request-id'],
          type: expect.stringMatching(/^https:\/\/errors\.referral-gateway\.dev\//),
        });
    }
    expect([await statusOf(refs[8]), await statusOf(refs[9])]).toEqual(['APPROVED', 'DECLINED']);
    // A single call would say the same as the bulk line did.
    expect((await decide(refs[2], { decision: 'APPROVED', decidedAt: t })).statusCode).toBe(409);
  });

  it('runs the decision job idempotently: one cardholder, one CARDHOLDER link, no open application, one notification', async () => {
    const job = api.get(DecisionApplyProcessor);
    expect(await job.apply({ referralId: key(refs[0]), correlationId: 'test' })).toEqual({ outcome: 'applied' });
    expect(await job.apply({ referralId: key(refs[0]), correlationId: 'test' })).toEqual({ outcome: 'already-applied' });
    await Promise.all([
      job.apply({ referralId: key(refs[0]), correlationId: 'test' }),
      job.apply({ referralId: key(refs[0]), correlationId: 'test' }),
    ]);
    const holders = await db.query('SELECT card_last4, credit_limit, user_id FROM cardholders WHERE referral_id = ?', [key(refs[0])]);
    expect(holders).toEqual([{ card_last4: '4321', credit_limit: '20000.00', user_id: users[0] }]);
    expect(await db.query('SELECT kind FROM partner_relationships WHERE user_id = ? ORDER BY kind', [users[0]])).toEqual([
      { kind: 'CARDHOLDER' },
    ]);
    const notes = await db.query('SELECT kind, payload, delivered_at FROM user_notifications WHERE referral_id = ?', [key(refs[0])]);
    expect(notes).toHaveLength(1);
    expect(notes[0].delivered_at).toBeNull();
    expect(json(notes[0].payload)).toEqual({
      referralId: refs[0],
      partnerCode: bank.code,
      productCode,
      decision: 'APPROVED',
      decidedAt: expect.any(String),
    });

    // A decline: no cardholder, the open application ends, the user is notified once.
    expect(await job.apply({ referralId: key(refs[1]), correlationId: 'test' })).toEqual({ outcome: 'applied' });
    expect(await db.query('SELECT 1 FROM cardholders WHERE referral_id = ?', [key(refs[1])])).toEqual([]);
    expect(await db.query('SELECT kind FROM partner_relationships WHERE user_id = ?', [users[1]])).toEqual([]);
    // Not final (PENDING_REVIEW) or missing: nothing to do.
    expect(await job.apply({ referralId: key(refs[12]), correlationId: 'test' })).toEqual({ outcome: 'not-final' });
    expect(await job.apply({ referralId: '999999999', correlationId: 'test' })).toEqual({ outcome: 'missing' });
  });

  it('runs the decision job through the outbox and the worker, and a redelivery changes nothing', async () => {
    const res = await decide(refs[10], { decision: 'APPROVED', decidedAt: now(), creditLimit: '12000.00', cardLast4: '9876' });
    expect(res.statusCode).toBe(200);
    const worker = await startWorker();
    try {
      await eventually(
        async () => (await db.query('SELECT 1 FROM cardholders WHERE referral_id = ?', [key(refs[10])])).length === 1,
        30_000,
        100,
      );
      await eventually(
        async () => (await db.query('SELECT 1 FROM user_notifications WHERE referral_id = ?', [key(refs[10])])).length === 1,
        30_000,
        100,
      );
    } finally {
      await worker.close();
    }
    expect(await api.get(DecisionApplyProcessor).apply({ referralId: key(refs[10]), correlationId: 'again' })).toEqual({
      outcome: 'already-applied',
    });
    expect(await db.query('SELECT card_last4, credit_limit FROM cardholders WHERE referral_id = ?', [key(refs[10])])).toEqual([
      { card_last4: '9876', credit_limit: '12000.00' },
    ]);
    expect(await db.query('SELECT kind FROM partner_relationships WHERE user_id = ?', [users[10]])).toEqual([{ kind: 'CARDHOLDER' }]);
    expect(await db.query('SELECT COUNT(*) AS n FROM user_notifications WHERE referral_id = ?', [key(refs[10])])).toEqual([{ n: '1' }]);
  });
});
