import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { decodeJwt } from 'jose';
import { DataSource } from 'typeorm';

import { ReferralPackagingProcessor } from '../../src/modules/referrals/packaging/referral-packaging.processor';
import { dataSourceOf, startHttpApp } from '../support/app';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { OPAQUE_ID, rowKey } from '../support/public-ids';
import { applyAfterPrescreen, createProduct, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Public ids are opaque (common/public-id.ts): consecutive rows get unrelated ids that decode back to their keys, a
 * tampered or foreign id is a 404 before any row is read, a partner cannot reach another partner's referral with a
 * valid id either, the numeric ids handed out before the change resolve up to the recorded ceiling and no further,
 * and page cursors neither show nor take an internal key. On real MariaDB, through the HTTP API.
 */
jest.setTimeout(120_000);

describe('opaque public ids', () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let other: BankClient;
  let token: string;
  let otherToken: string;
  const users = userIds(6);
  let refs: string[];
  const get = (url: string, t = token) => inject(api, { method: 'GET', url, headers: { authorization: `Bearer ${t}` } });
  const post = (url: string, t = token, payload?: object) =>
    inject(api, { method: 'POST', url, headers: { authorization: `Bearer ${t}` }, ...(payload ? { payload } : {}) });
  const disclosuresOf = async (publicId: string) =>
    Number((await db.query('SELECT COUNT(*) AS n FROM disclosures WHERE referral_id = ?', [rowKey(publicId)]))[0].n);

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('PI'));
    other = new BankClient(uniqueCode('PJ'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    await registerPartner(api, other.code, { keys: [other.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name']);
    refs = await applyAfterPrescreen(api, users, productCode);
    for (const ref of refs) await api.get(ReferralPackagingProcessor).package({ referralId: rowKey(ref), correlationId: 'test' });
    token = await bank.accessToken(api);
    otherToken = await other.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  it('gives consecutive referrals unrelated ids that decode back to their rows, in answers, files, SETs and the audit', async () => {
    for (const ref of refs) expect(ref).toMatch(OPAQUE_ID('ref'));
    const keys = refs.map(rowKey);
    // The rows are consecutive, their ids are not: neighbours differ almost everywhere (the shape rules out digits).
    expect(keys.map(Number)).toEqual(keys.map((_, i) => Number(keys[0]) + i));
    for (let i = 1; i < refs.length; i++) {
      const differing = [...refs[i]].filter((c, j) => c !== refs[i - 1][j]).length;
      expect(differing).toBeGreaterThan(12);
    }
    const rows = await db.query(`SELECT id, user_id FROM referrals WHERE id IN (${keys.map(() => '?').join(', ')}) ORDER BY id`, keys);
    expect(rows.map((r: { user_id: string }) => r.user_id)).toEqual(users);

    const fetched = await get(`/partner/v1/referrals/${refs[0]}`);
    expect(fetched.statusCode).toBe(200);
    expect(fetched.json().id).toBe(refs[0]);
    const file = decodeJwt(fetched.json().file);
    expect(file.sub).toBe(refs[0]);
    expect((file.referral as { id: string; consent: { id: string }; prescreen: { runId: string } }).id).toBe(refs[0]);
    expect((file.referral as { consent: { id: string } }).consent.id).toMatch(OPAQUE_ID('cns'));
    expect((file.referral as { prescreen: { runId: string } }).prescreen.runId).toMatch(OPAQUE_ID('run'));

    const polled = await post('/partner/v1/events/poll', token, { returnImmediately: true, maxEvents: 50 });
    const sets = Object.entries<string>(polled.json().sets);
    const ready = sets.find(([, set]) => decodeJwt(set).txn === refs[0]);
    expect(ready).toBeDefined();
    expect(ready![0]).toMatch(OPAQUE_ID('evt'));
    expect(decodeJwt(ready![1]).jti).toBe(ready![0]);

    const audited = await db.query(
      `SELECT resource_id FROM audit_inbox WHERE action = 'referral.file.disclosed' AND resource_id = ?
         UNION ALL SELECT resource_id FROM audit_events WHERE action = 'referral.file.disclosed' AND resource_id = ?`,
      [refs[0], refs[0]],
    );
    expect(audited).toEqual([{ resource_id: refs[0] }]);
  });

  it('answers a tampered, truncated or other-prefix id with 404, and discloses nothing', async () => {
    const ref = refs[1];
    const body = ref.slice(5);
    const flipped = (i: number) => `ref_1${body.slice(0, i)}${body[i] === 'a' ? 'b' : 'a'}${body.slice(i + 1)}`;
    const consentId = (await inject(api, { method: 'GET', url: '/v1/me/consents', headers: userHeaders(users[1]) })).json().data[0].id;
    const forged = [flipped(0), flipped(12), flipped(24), ref.slice(0, -1), ref.toUpperCase(), `ref_${consentId.slice(4)}`, `${ref}a`];
    for (const id of forged) {
      for (const res of [
        await get(`/partner/v1/referrals/${encodeURIComponent(id)}`),
        await post(`/partner/v1/referrals/${encodeURIComponent(id)}/acknowledgement`),
      ]) {
        expect([id, res.statusCode]).toEqual([id, 404]);
        expect(res.headers['content-type']).toContain('application/problem+json');
      }
      const mine = await inject(api, {
        method: 'GET',
        url: `/v1/me/applications/${encodeURIComponent(id)}`,
        headers: userHeaders(users[1]),
      });
      expect([id, mine.statusCode]).toEqual([id, 404]);
    }
    expect(await disclosuresOf(ref)).toBe(0);
    const [{ status }] = await db.query('SELECT status FROM referrals WHERE id = ?', [rowKey(ref)]);
    expect(status).toBe('READY');
  });

  it("answers another partner's valid referral id with 404, in any form, and discloses nothing", async () => {
    const ref = refs[2];
    for (const id of [ref, `ref_${rowKey(ref)}`]) {
      expect((await get(`/partner/v1/referrals/${id}`, otherToken)).statusCode).toBe(404);
      expect((await post(`/partner/v1/referrals/${id}/acknowledgement`, otherToken)).statusCode).toBe(404);
      const decided = await post(`/partner/v1/referrals/${id}/decision`, otherToken, {
        decision: 'DECLINED',
        decidedAt: new Date().toISOString(),
      });
      expect(decided.statusCode).toBe(404);
    }
    expect(await disclosuresOf(ref)).toBe(0);
    const [{ status }] = await db.query('SELECT status FROM referrals WHERE id = ?', [rowKey(ref)]);
    expect(status).toBe('READY');
  });

  it('resolves numeric ids handed out before the change, up to the recorded ceiling and no further', async () => {
    const [old, newer] = [refs[3], refs[4]];
    // A fresh database records 0: no numeric id resolves.
    expect((await get(`/partner/v1/referrals/ref_${rowKey(old)}`)).statusCode).toBe(404);

    // As if the migration had run when `old` was the newest referral: ceilings are read when a process starts.
    await db.query("UPDATE public_id_legacy_ceilings SET max_key = ? WHERE prefix = 'ref'", [rowKey(old)]);
    const restarted = await startHttpApp();
    try {
      const legacy = await inject(restarted, {
        method: 'GET',
        url: `/partner/v1/referrals/ref_${rowKey(old)}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(legacy.statusCode).toBe(200);
      expect(legacy.json().id).toBe(old); // answered in the opaque form
      const beyond = await inject(restarted, {
        method: 'GET',
        url: `/partner/v1/referrals/ref_${rowKey(newer)}`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(beyond.statusCode).toBe(404);
      const theirs = await inject(restarted, {
        method: 'GET',
        url: `/partner/v1/referrals/ref_${rowKey(old)}`,
        headers: { authorization: `Bearer ${otherToken}` },
      });
      expect(theirs.statusCode).toBe(404);
      expect(await disclosuresOf(newer)).toBe(0);
    } finally {
      await db.query("UPDATE public_id_legacy_ceilings SET max_key = 0 WHERE prefix = 'ref'");
      await restarted.close();
    }
  });

  it('pages with cursors that carry no readable key, and refuses a cursor written by hand', async () => {
    const first = await get('/partner/v1/referrals?limit=2');
    expect(first.statusCode).toBe(200);
    const cursor: string = first.json().nextCursor;
    expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toMatch(/after|[0-9]{2,}/);
    const second = await get(`/partner/v1/referrals?limit=2&cursor=${cursor}`);
    expect(second.statusCode).toBe(200);
    const listed = [...first.json().data, ...second.json().data].map((r: { id: string }) => r.id);
    expect(listed).toEqual(refs.slice(0, 4)); // creation order, although the ids themselves do not sort

    const handMade = Buffer.from(JSON.stringify({ v: 1, after: rowKey(refs[0]) })).toString('base64url');
    const refused = await get(`/partner/v1/referrals?limit=2&cursor=${handMade}`);
    expect(refused.statusCode).toBe(400);
    expect(refused.json().errors).toEqual([expect.objectContaining({ field: 'cursor' })]);
  });

  it('makes decision file ids that do not sort in upload order', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await inject(api, {
        method: 'POST',
        url: '/partner/v1/decision-files',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' },
        payload: `referralId,decision,decidedAt\nref_x,APPROVED,${new Date().toISOString()}\n`,
      });
      expect(res.statusCode).toBe(202);
      ids.push(res.json().id);
    }
    for (const id of ids) expect(id).toMatch(OPAQUE_ID('dcf'));
    expect([...ids].sort()).not.toEqual(ids);
    expect(ids.map(rowKey).map(Number)).toEqual([...ids.map(rowKey).map(Number)].sort((a, b) => a - b));
  });
});
