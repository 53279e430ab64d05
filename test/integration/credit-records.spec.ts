import { randomBytes } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { CreditRecordsService } from '../../src/modules/credit-records/credit-records.service';
import { CreditRecordLine } from '../../src/modules/credit-records/ingest/credit-record-line';
import { syntheticCreditRecord, syntheticCreditRecords } from '../../src/modules/credit-records/synthetic/synthetic-credit-records';
import { startHttpApp, testConfig } from '../support/app';

/** Ingest through the public HTTP interface, checked against the rows it leaves in MySQL. */
describe('credit record ingest (POST /v1/platform/credit-records, /repayment-status)', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let token: string;

  beforeAll(async () => {
    app = await startHttpApp('api');
    db = app.get(DataSource);
    token = mintDevelopmentPlatformToken(testConfig(), { sub: 'platform-ingest', roles: ['platform'] });
  });

  afterAll(async () => {
    await app.close();
  });

  /** Users of one test: a random prefix keeps tests apart in the shared run database. */
  const usersOf = (n: number, overrides: { asOf?: string; seed?: string } = {}) => {
    const prefix = `t${randomBytes(4).toString('hex')}_`;
    return [
      ...syntheticCreditRecords({ users: n, seed: overrides.seed ?? prefix, userIdPrefix: prefix, idWidth: 4, asOf: overrides.asOf }),
    ];
  };
  const ndjson = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

  const post = (url: string, payload: string | unknown[], headers: Record<string, string> = {}) =>
    app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url,
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': typeof payload === 'string' ? 'application/x-ndjson' : 'application/json',
          ...headers,
        },
      });
  const ingest = (payload: string | unknown[]) => post('/v1/platform/credit-records', payload);
  const repayment = (payload: string | unknown[]) => post('/v1/platform/repayment-status', payload);

  const rowOf = async (userId: string) => (await db.query('SELECT * FROM credit_records WHERE user_id = ?', [userId]))[0];
  const versionOf = async (userId: string) => (await rowOf(userId))?.record_version as number | undefined;

  it('reports each bad line with its number and keeps every good line', async () => {
    const [a, b, c, d, e, f] = usersOf(6);
    const lines = [
      a,
      '{"userId": "u_1", "asOf": ',
      { ...b, nickname: 'x' },
      { ...c, score: '712' },
      { ...d, balance: '3200.5' },
      { ...e, asOf: '2026-02-30' },
      f,
    ];
    const res = await ingest(ndjson(lines));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 2,
      ignored: 0,
      rejected: [
        { line: 2, errors: [{ field: null, message: 'is not valid JSON' }] },
        { line: 3, errors: [{ field: 'nickname', message: 'is not a known member' }] },
        { line: 4, errors: [{ field: 'score', message: expect.stringMatching(/integer/) }] },
        { line: 5, errors: [{ field: 'balance', message: expect.stringMatching(/two places/) }] },
        { line: 6, errors: [expect.objectContaining({ field: 'asOf' })] },
      ],
    });
    expect(await versionOf(a.userId)).toBe(1);
    expect(await versionOf(f.userId)).toBe(1);
    for (const bad of [b, c, d, e]) expect(await rowOf(bad.userId)).toBeUndefined();
  });

  it('accepts a JSON array, numbering its elements from 1', async () => {
    const [a, b] = usersOf(2);
    const res = await ingest([a, { ...b, repayment: { ...b.repayment, currentDpd: -1 } }, 'not an object']);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 1,
      ignored: 0,
      rejected: [
        { line: 2, errors: [{ field: 'repayment.currentDpd', message: expect.any(String) }] },
        { line: 3, errors: [{ field: null, message: 'must be an object, got string' }] },
      ],
    });
  });

  it('refuses a body that is neither NDJSON nor a JSON array', async () => {
    const res = await ingest({ not: 'an array' } as unknown as unknown[]);
    expect(res.statusCode).toBe(400);
  });

  it('changes nothing when the same snapshot is sent again', async () => {
    const users = usersOf(3);
    expect((await ingest(ndjson(users))).json()).toMatchObject({ accepted: 3, ignored: 0 });
    const before = await rowOf(users[0].userId);
    const again = await ingest(ndjson(users));
    expect(again.json()).toEqual({ accepted: 0, ignored: 3, rejected: [] });
    const after = await rowOf(users[0].userId);
    expect(after.record_version).toBe(1);
    expect(after.identity_enc.equals(before.identity_enc)).toBe(true);
    expect(after.updated_at).toEqual(before.updated_at);
  });

  it('ignores an older snapshot and applies a newer one as the next version', async () => {
    const [user] = usersOf(1, { asOf: '2026-10-01' });
    await ingest(ndjson([user]));
    const older: CreditRecordLine = { ...user, asOf: '2026-09-01', score: 400 };
    expect((await ingest(ndjson([older]))).json()).toEqual({ accepted: 0, ignored: 1, rejected: [] });
    expect((await rowOf(user.userId)).score).toBe(user.score);

    const newer: CreditRecordLine = { ...user, asOf: '2026-10-15', score: 801, riskGrade: 'A+', balance: '10.00' };
    expect((await ingest(ndjson([newer]))).json()).toEqual({ accepted: 1, ignored: 0, rejected: [] });
    const row = await rowOf(user.userId);
    expect(row).toMatchObject({ record_version: 2, score: 801, risk_grade: 'A+', balance: '10.00' });
    const stored = await app.get(CreditRecordsService).currentRecord(user.userId);
    expect(stored).toMatchObject({ asOf: '2026-10-15', currentDpdAsOf: '2026-10-15', recordVersion: 2 });
  });

  it('applies only the newest of several snapshots of one user in a request', async () => {
    const [user] = usersOf(1);
    const res = await ingest(
      ndjson([
        { ...user, asOf: '2026-08-01', score: 500 },
        { ...user, asOf: '2026-08-03', score: 700 },
        { ...user, asOf: '2026-08-02', score: 600 },
      ]),
    );
    expect(res.json()).toEqual({ accepted: 1, ignored: 2, rejected: [] });
    expect(await rowOf(user.userId)).toMatchObject({ record_version: 1, score: 700 });
  });

  it('counts exactly when two requests race on the same new users', async () => {
    const users = usersOf(300);
    const body = ndjson(users);
    const [one, two] = await Promise.all([ingest(body), ingest(body)]);
    expect(one.statusCode).toBe(200);
    expect(two.statusCode).toBe(200);
    expect(one.json().accepted + two.json().accepted).toBe(300);
    expect(one.json().ignored + two.json().ignored).toBe(300);
    const [{ versions }] = await db.query('SELECT SUM(record_version) AS versions FROM credit_records WHERE user_id IN (?)', [
      users.map((u) => u.userId),
    ]);
    expect(Number(versions)).toBe(300);
  });

  it('keeps identity fields out of the database in clear, findable only by keyed hash', async () => {
    const [user] = usersOf(1);
    user.identity = { name: 'Zhang Wei-Unique', nationalId: '44030519850101234X', phone: '+86 138 0013 8000', kycLevel: 3 };
    await ingest(ndjson([user]));

    const row = await rowOf(user.userId);
    const bytes = Buffer.concat(
      Object.values(row).map((v) =>
        Buffer.isBuffer(v) ? v : Buffer.from(v instanceof Date ? v.toISOString() : (JSON.stringify(v) ?? '')),
      ),
    );
    for (const secret of ['Zhang Wei-Unique', '44030519850101234X', '4403051985', '13800138000', '138 0013 8000']) {
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(bytes.toString('hex').includes(Buffer.from(secret).toString('hex'))).toBe(false);
    }
    // Re-sealing the same identity gives a different ciphertext (random IV).
    expect(row.identity_enc.length).toBeGreaterThan(29);

    const service = app.get(CreditRecordsService);
    expect(await service.findUserIdsByNationalId('44030519850101234x')).toEqual([user.userId]);
    expect(await service.findUserIdsByPhone('+8613800138000')).toEqual([user.userId]);
    expect(await service.findUserIdsByNationalId('440305198501012340')).toEqual([]);
    expect((await service.currentRecord(user.userId))?.identity).toEqual({
      name: 'Zhang Wei-Unique',
      nationalId: '44030519850101234X',
      phone: '+86 138 0013 8000',
    });
  });

  it('records one audit entry per request, with counts only', async () => {
    const [a] = usersOf(1);
    const res = await post('/v1/platform/credit-records', ndjson([a, '{bad']), { 'x-request-id': `ingest-audit-${a.userId}` });
    expect(res.statusCode).toBe(200);
    const entries = await db.query('SELECT * FROM audit_inbox WHERE request_id = ?', [`ingest-audit-${a.userId}`]);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor_type: 'platform',
      actor_id: 'platform-ingest',
      action: 'credit_records.ingested',
      outcome: 'SUCCESS',
    });
    const details = typeof entries[0].details === 'string' ? JSON.parse(entries[0].details) : entries[0].details;
    expect(details).toEqual({ accepted: 1, ignored: 0, rejected: 1 });
    expect(JSON.stringify(entries[0])).not.toContain(a.identity.nationalId);
  });

  it('answers 413 above 10 MiB', async () => {
    const [a] = usersOf(1);
    const one = JSON.stringify(a) + '\n';
    const body = one.repeat(Math.ceil((10 * 1024 * 1024 + 1) / one.length));
    const res = await ingest(body);
    expect(res.statusCode).toBe(413);
    expect(await rowOf(a.userId)).toBeUndefined();
  });

  it('answers 401 without a token and 403 without the platform role', async () => {
    const [a] = usersOf(1);
    const anonymous = await app
      .getHttpAdapter()
      .getInstance()
      .inject({
        method: 'POST',
        url: '/v1/platform/credit-records',
        payload: ndjson([a]),
        headers: { 'content-type': 'application/x-ndjson' },
      });
    expect(anonymous.statusCode).toBe(401);
    const userToken = mintDevelopmentPlatformToken(testConfig(), { sub: a.userId, roles: ['user', 'admin'] });
    const wrongRole = await post('/v1/platform/credit-records', ndjson([a]), { authorization: `Bearer ${userToken}` });
    expect(wrongRole.statusCode).toBe(403);
    const wrongRoleRepayment = await post('/v1/platform/repayment-status', '{}', { authorization: `Bearer ${userToken}` });
    expect(wrongRoleRepayment.statusCode).toBe(403);
    expect(await rowOf(a.userId)).toBeUndefined();
  });

  describe('repayment status', () => {
    it('updates current DPD between snapshots, ignores stale updates, rejects unknown users', async () => {
      const [a, b] = usersOf(2, { asOf: '2026-11-01' }).map((u) => ({
        ...u,
        repayment: { ...u.repayment, currentDpd: 0, overdueAmount: '0.00' },
      }));
      await ingest(ndjson([a, b]));

      const res = await repayment(
        ndjson([
          { userId: a.userId, currentDpd: 5, overdueAmount: '120.50', asOf: '2026-11-06' },
          { userId: b.userId, currentDpd: 9, overdueAmount: '1.00', asOf: '2026-10-30' }, // older than the snapshot
          { userId: `${a.userId}-nobody`, currentDpd: 1, overdueAmount: '1.00', asOf: '2026-11-06' },
          { userId: a.userId, currentDpd: 1, overdueAmount: '1.00', asOf: '2026-11-02' }, // superseded in the request
          { userId: a.userId, currentDpd: 'x', overdueAmount: '1.00', asOf: '2026-11-06' },
        ]),
      );
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        accepted: 1,
        ignored: 2,
        rejected: [
          { line: 3, errors: [{ field: 'userId', message: expect.any(String) }] },
          { line: 5, errors: [{ field: 'currentDpd', message: expect.any(String) }] },
        ],
      });
      // An applied update is a new version of the record; an ignored one is not.
      expect(await rowOf(a.userId)).toMatchObject({ record_version: 2, current_dpd: 5, overdue_amount: '120.50' });
      expect(await rowOf(b.userId)).toMatchObject({ record_version: 1, current_dpd: 0, overdue_amount: '0.00' });

      // An older repayment status than the one applied changes nothing.
      const stale = await repayment(ndjson([{ userId: a.userId, currentDpd: 0, overdueAmount: '0.00', asOf: '2026-11-05' }]));
      expect(stale.json()).toEqual({ accepted: 0, ignored: 1, rejected: [] });

      // A newer snapshot dated before the repayment status keeps the later DPD; one dated after replaces it.
      await ingest(ndjson([{ ...a, asOf: '2026-11-04' }]));
      expect(await rowOf(a.userId)).toMatchObject({ record_version: 3, current_dpd: 5 });
      await ingest(ndjson([{ ...a, asOf: '2026-11-07' }]));
      expect(await rowOf(a.userId)).toMatchObject({ record_version: 4, current_dpd: 0, overdue_amount: '0.00' });
      const stored = await app.get(CreditRecordsService).currentRecord(a.userId);
      expect(stored?.currentDpdAsOf).toBe('2026-11-07');
    });
  });

  it('stores what the synthetic generator produces, value for value', async () => {
    const prefix = `s${randomBytes(4).toString('hex')}_`;
    const record = syntheticCreditRecord({ seed: 9, userIdPrefix: prefix }, 1);
    await ingest(ndjson([record]));
    const stored = await app.get(CreditRecordsService).currentRecord(record.userId);
    expect(stored).toMatchObject({
      score: record.score,
      creditLimit: record.creditLimit,
      balance: record.balance,
      accountOpenedAt: record.accountOpenedAt,
      returnRate12m: record.consumption.returnRate12m.toFixed(4),
      topCategories: JSON.stringify(record.consumption.topCategories),
      identity: { name: record.identity.name, nationalId: record.identity.nationalId, phone: record.identity.phone },
    });
  });
});
