import * as mysql from 'mysql2/promise';

import { PartnerBankClient } from '../support/bank-client';
import { adminHeaders, GATEWAY, uniqueCode } from '../support/partner-client';
import { Gateway, runStore, Store } from './support/gateway';
import { Answer, send } from './support/http';
import { assertChainVerifies } from './support/invariants';
import { OwnedProcess, until } from './support/processes';

type Rows = mysql.RowDataPacket[];

/**
 * Every pooled MySQL connection of an api process is busy (two requests wait on a row lock the test holds): a
 * further request is answered at once with 503 and `retry-after`, instead of queueing for a connection until the
 * client gives up. Once the lock goes, the waiting requests finish, each with its effect once.
 */
describe('connection pool exhausted', () => {
  let store: Store;
  let api: Gateway;
  let worker: Gateway;
  let blocker: mysql.PoolConnection | undefined;

  beforeAll(async () => {
    store = runStore();
    [api, worker] = await Promise.all([
      Gateway.start('api', store, { DATABASE_POOL_SIZE: '2', DATABASE_POOL_ACQUIRE_TIMEOUT_MS: '1000' }),
      Gateway.start('worker', store),
    ]);
  });

  afterAll(async () => {
    await blocker?.rollback().catch(() => undefined);
    blocker?.release();
    await OwnedProcess.killAll();
    await store.db.end();
  });

  it('a fast 503 with retry-after while every connection is taken, then the held requests finish once', async () => {
    const code = uniqueCode('POOL');
    const bank = new PartnerBankClient({ baseUrl: api.baseUrl, issuer: GATEWAY, clientId: code });
    const registered = await send(api.baseUrl, 'POST', '/v1/admin/partners', {
      headers: adminHeaders(),
      body: { code, name: `Bank ${code}`, jwks: await bank.publicJwks() },
    });
    expect(registered.status).toBe(201);

    // The partner's row locked here: each rename below takes one of the api's two connections and waits on it.
    blocker = await store.db.getConnection();
    await blocker.beginTransaction();
    await blocker.query('SELECT id FROM partners WHERE code = ? FOR UPDATE', [code]);
    const renames: Promise<Answer>[] = ['Renamed A', 'Renamed B'].map((name) =>
      send(api.baseUrl, 'PATCH', `/v1/admin/partners/${code}`, { headers: adminHeaders(), body: { name }, timeoutMs: 60_000 }),
    );
    for (const rename of renames) rename.catch(() => undefined); // awaited below; a failed case must not leave them unhandled
    await until('both connections waiting on the lock', async () => {
      const [[row]] = await store.db.query<Rows>(
        `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
           JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
          WHERE t.trx_state = 'LOCK WAIT' AND p.DB = DATABASE()`,
      );
      return Number(row.n) === 2;
    });

    // A read needs no lock, only a connection: without a bound on the wait it would queue until a rename ends.
    const starved = await send(api.baseUrl, 'GET', '/v1/admin/partners?limit=1', { headers: adminHeaders(), timeoutMs: 15_000 });
    expect({ status: starved.status, type: starved.headers.get('content-type') }).toEqual({
      status: 503,
      type: expect.stringMatching(/^application\/problem\+json/),
    });
    expect(starved.json()).toMatchObject({ type: 'https://errors.referral-gateway.dev/service-unavailable', status: 503 });
    expect(Number(starved.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(starved.body).not.toMatch(/pool|connection|mysql/i);

    await blocker.rollback();
    blocker.release();
    blocker = undefined;
    expect((await Promise.all(renames)).map((r) => r.status)).toEqual([200, 200]);
    expect((await send(api.baseUrl, 'GET', '/v1/admin/partners?limit=1', { headers: adminHeaders() })).status).toBe(200);

    // Each rename took effect once: one `partner.updated` entry each, and the chain verifies.
    await until(
      'the audit inbox chained',
      async () => {
        const [[row]] = await store.db.query<Rows>('SELECT COUNT(*) AS n FROM audit_inbox');
        return Number(row.n) === 0;
      },
      { watch: [worker.process] },
    );
    const [[updated]] = await store.db.query<Rows>(
      "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'partner.updated' AND resource_id = ?",
      [code],
    );
    expect(Number(updated.n)).toBe(2);
    await assertChainVerifies(api.baseUrl);
  });
});
