import * as mysql from 'mysql2/promise';

import { adminHeaders } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { Gateway, privateStore, Store } from './support/gateway';
import { send } from './support/http';
import { assertExactlyOnce, countReady } from './support/invariants';
import { PrivateMariaDb } from './support/private-servers';
import { OwnedProcess, until } from './support/processes';
import { decisionBody, onboard } from './support/scenario';

type Rows = mysql.RowDataPacket[];

const HOUR_MS = 3_600_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** A DATETIME(3) column as stored, read as text (no driver or session time zone in between), as an ISO UTC instant. */
const storedUtc = (column: string) => `CONCAT(REPLACE(DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f'), ' ', 'T'), 'Z')`;

/**
 * The gateway processes in Asia/Shanghai (TZ, UTC+8 all year) against a MariaDB whose default session time zone is
 * +08:00: every time the API answers is the same UTC instant, times are stored in UTC, the decision SLA is 72 hours
 * from creation, and overdue scans take UTC business dates (Shanghai's "today" is UTC's tomorrow for 8 hours a day).
 */
describe('a time zone other than UTC', () => {
  let mariadb: PrivateMariaDb;
  let store: Store;
  let api: Gateway;
  let worker: Gateway;

  beforeAll(async () => {
    mariadb = await PrivateMariaDb.create(['--default-time-zone=+08:00']);
    store = await privateStore(mariadb.url, process.env.REDIS_URL!);
    const env = { TZ: 'Asia/Shanghai' };
    [api, worker] = await Promise.all([Gateway.start('api', store, env), Gateway.start('worker', store, env)]);
  }, 240_000);

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store?.db.end();
    await mariadb?.remove();
  });

  it('answers, stores and schedules in UTC: createdAt, expiresAt, decidedAt, the SLA timer, scan dates', async () => {
    const [[server]] = await store.db.query<Rows>('SELECT @@global.time_zone AS tz');
    expect(server.tz).toBe('+08:00');

    const before = Date.now();
    const cohort = await onboard(api.baseUrl, 2);
    const after = Date.now();
    await until('READY', async () => (await countReady(store.db, cohort.referrals)) === 2, { watch: [worker.process] });

    const token = await cohort.bank.token();
    const decided = new Map<string, string>();
    for (const id of cohort.referrals) {
      expect((await cohort.bank.fetchReferral(id)).status).toBe(200);
      const decidedAt = new Date().toISOString();
      const answer = await send(api.baseUrl, 'POST', `/partner/v1/referrals/${id}/decision`, {
        headers: { authorization: `Bearer ${token}` },
        body: decisionBody('APPROVED', { decidedAt, creditLimit: '20000.00', cardLast4: '4321' }),
      });
      // A createdAt read or written in local time would be 8 hours off: in the future, the decision refused.
      expect(answer.status).toBe(200);
      const body = answer.json();
      decided.set(id, body.status);
      expect(body.createdAt).toMatch(/Z$/);
      const created = Date.parse(body.createdAt);
      expect(created).toBeGreaterThanOrEqual(before - 1000);
      expect(created).toBeLessThanOrEqual(after + 1000);
      expect(Date.parse(body.expiresAt) - created).toBe(72 * HOUR_MS);
      expect(Date.parse(body.decision.decidedAt)).toBe(Date.parse(decidedAt));

      const [[row]] = await store.db.query<Rows>(
        `SELECT ${storedUtc('created_at')} AS createdAt, ${storedUtc('expires_at')} AS expiresAt FROM referrals WHERE id = ?`,
        [rowKey(id)],
      );
      expect(Date.parse(row.createdAt)).toBe(created);
      expect(Date.parse(row.expiresAt)).toBe(Date.parse(body.expiresAt));
    }

    // The SLA timer: a delayed check at the deadline, 72 h after creation.
    const [timers] = await store.db.query<Rows>(
      "SELECT delay_ms FROM outbox WHERE job_name = 'referral.sla-check' AND JSON_VALUE(payload, '$.referralId') IN (?)",
      [cohort.referrals.map(rowKey)],
    );
    expect(timers.map((t) => Number(t.delay_ms))).toEqual([72 * HOUR_MS, 72 * HOUR_MS]);

    // Overdue scans: business dates are UTC dates. UTC's tomorrow is refused even while it is already today in Shanghai.
    const today = utcDay(Date.now());
    const tomorrow = utcDay(Date.now() + 24 * HOUR_MS);
    const future = await send(api.baseUrl, 'POST', '/v1/admin/overdue-scans', { headers: adminHeaders(), body: { asOf: tomorrow } });
    expect(future.status).toBe(400);
    const started = await send(api.baseUrl, 'POST', '/v1/admin/overdue-scans', { headers: adminHeaders(), body: { asOf: today } });
    expect(started.status).toBe(202);
    const scan = await until(
      'the scan completed',
      async () => {
        const view = (await send(api.baseUrl, 'GET', `/v1/admin/overdue-scans/${started.json().id}`, { headers: adminHeaders() })).json();
        return view.status === 'COMPLETED' ? view : undefined;
      },
      { timeoutMs: 60_000, watch: [worker.process] },
    );
    expect(scan.asOf).toBe(today);
    const [[stored]] = await store.db.query<Rows>("SELECT DATE_FORMAT(as_of, '%Y-%m-%d') AS asOf FROM overdue_scans");
    expect(stored.asOf).toBe(today);

    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals, decided });
  });
});
