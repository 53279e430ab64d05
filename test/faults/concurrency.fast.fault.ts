import * as mysql from 'mysql2/promise';

import { platformToken } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { Gateway, runStore, Store } from './support/gateway';
import { Answer, send } from './support/http';
import { assertExactlyOnce, countReady } from './support/invariants';
import { OwnedProcess, until } from './support/processes';
import { decisionBody, onboard } from './support/scenario';

type Rows = mysql.RowDataPacket[];

/**
 * Load at one point: many requests racing for the same row or the same Idempotency-Key, over real sockets against an
 * api process. The database decides the winner; nobody gets a 500, nothing happens twice.
 */
describe('racing requests', () => {
  let store: Store;
  let api: Gateway;
  let worker: Gateway;

  beforeAll(async () => {
    store = runStore();
    [api, worker] = await Promise.all([Gateway.start('api', store), Gateway.start('worker', store)]);
  });

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store.db.end();
  });

  it('50 conflicting decisions on one referral at once: one winner, the others refused, one state change', async () => {
    const cohort = await onboard(api.baseUrl, 1);
    const [referral] = cohort.referrals;
    await until('READY', async () => (await countReady(store.db, cohort.referrals)) === 1, { watch: [worker.process] });
    expect((await cohort.bank.fetchReferral(referral)).status).toBe(200);
    const token = await cohort.bank.token();

    const kinds = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 'APPROVED' : 'DECLINED') as 'APPROVED' | 'DECLINED');
    const answers = await Promise.all(
      kinds.map((kind) =>
        send(api.baseUrl, 'POST', `/partner/v1/referrals/${referral}/decision`, {
          headers: { authorization: `Bearer ${token}` },
          body: decisionBody(kind),
        }),
      ),
    );
    expect(answers.filter((a) => a.status !== 200 && a.status !== 409).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    const won = answers.filter((a) => a.status === 200).map((a) => a.json());
    expect(won.length).toBeGreaterThanOrEqual(1);
    const winner = won[0].status as string;
    // A repeat of the winning decision may be answered as the decision it is; a conflicting one never wins.
    expect(won.every((body) => body.status === winner)).toBe(true);
    const [[row]] = await store.db.query<Rows>('SELECT status FROM referrals WHERE id = ?', [rowKey(referral)]);
    expect(row.status).toBe(winner);
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals, decided: new Map([[referral, winner]]) });
  });

  it('one Idempotency-Key sent 100 times at once: one rotation, identical answers, the rest told it is in flight', async () => {
    const headers = { authorization: `Bearer ${platformToken(['admin'], 'fault-operator')}`, 'idempotency-key': 'fault-rotate-1' };
    const [[before]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM signing_keys');
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => send(api.baseUrl, 'POST', '/v1/admin/signing-keys/rotate', { headers, body: {} })),
    );
    expect(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => a.body)).size).toBe(1);
    const [[after]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM signing_keys');
    expect(Number(after.n) - Number(before.n)).toBe(1);

    // Once settled, the key answers the stored response, byte for byte.
    const again: Answer = await send(api.baseUrl, 'POST', '/v1/admin/signing-keys/rotate', { headers, body: {} });
    expect({ status: again.status, body: again.body }).toEqual({ status: 201, body: created[0].body });
    const [[final]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM signing_keys');
    expect(Number(final.n)).toBe(Number(after.n));
  });

  it('one application sent 100 times at once with one key: one referral, identical answers', async () => {
    const cohort = await onboard(api.baseUrl, 1, { applyNow: false });
    const [user] = cohort.users;
    const userAuth = { authorization: `Bearer ${platformToken(['user'], user)}` };
    const offers = (await send(api.baseUrl, 'GET', '/v1/me/offers', { headers: userAuth })).json();
    const offer = offers.data.find((o: { productCode: string }) => o.productCode === cohort.productCode);
    const consent = (await send(api.baseUrl, 'GET', `/v1/me/offers/${offer.id}/consent`, { headers: userAuth })).json();
    const body = { offerId: offer.id, consent: { textVersion: consent.textVersion, textSha256: consent.textSha256, accepted: true } };
    const headers = { ...userAuth, 'idempotency-key': `apply-${user}` };
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => send(api.baseUrl, 'POST', '/v1/me/applications', { headers, body })),
    );
    expect(answers.filter((a) => a.status !== 201 && a.status !== 409).map((a) => `${a.status} ${a.body}`)).toEqual([]);
    const created = answers.filter((a) => a.status === 201);
    expect(new Set(created.map((a) => a.body)).size).toBe(1);
    const referral = created[0].json().id as string;
    const [rows] = await store.db.query<Rows>('SELECT id FROM referrals WHERE user_id = ?', [user]);
    expect(rows).toHaveLength(1);
    await until('READY', async () => (await countReady(store.db, [referral])) === 1, { watch: [worker.process] });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: [referral] });
  });
});
