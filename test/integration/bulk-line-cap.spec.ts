import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer } from 'node:net';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { seedDeliveredReferrals } from '../../src/modules/decisions/decisions.bench';
import { dataSourceOf, eventually, startHttpApp } from '../support/app';
import { BUILT_GATEWAY, ensureBuilt } from '../support/built-dist';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';
import { rowKey as key } from '../support/public-ids';
import { createProduct, creditRecordLine, registerPartner } from '../support/referral-flow';

/**
 * Every bulk endpoint caps the lines of one request (BULK_MAX_LINES): a body over the cap is a 413 problem before any
 * line is applied, a body at the cap is served, and the 10 MiB body of `0\n` that used to take an api process down
 * (an Error and a problem per line, gigabytes of heap) gets a small 413 from a real process with a small heap, which
 * then goes on serving.
 */
jest.setTimeout(180_000);

const CAP = 6;
const TOO_MANY = 'https://errors.referral-gateway.dev/too-many-lines';
const ndjson = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
const now = () => new Date().toISOString();
const prefixed = (n: number) => {
  const prefix = `lc${randomBytes(4).toString('hex')}_`;
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
};

/** The 413 every endpoint gives for a body over the cap: problem+json naming the cap. */
function expectTooManyLines(res: { statusCode: number; headers: Record<string, unknown>; body: string }, cap: number) {
  expect(res.statusCode).toBe(413);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(res.body);
  expect(problem).toMatchObject({ type: TOO_MANY, status: 413, title: expect.any(String), instance: res.headers['x-request-id'] });
  expect(problem.detail).toContain(cap.toLocaleString('en-US'));
}

describe(`bulk line cap (BULK_MAX_LINES=${CAP})`, () => {
  let api: NestFastifyApplication;
  let db: DataSource;
  let bank: BankClient;
  let partnerToken: string;
  let refs: string[];
  const platform = () => ({ authorization: `Bearer ${platformToken(['platform'])}` });
  const post = (url: string, payload: string | unknown[], headers: Record<string, string>, contentType?: string) =>
    inject(api, {
      method: 'POST',
      url,
      headers: {
        ...headers,
        'content-type': contentType ?? (typeof payload === 'string' ? 'application/x-ndjson' : 'application/json'),
      },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const statuses = async (ids: string[]) =>
    (await db.query('SELECT status FROM referrals WHERE id IN (?) ORDER BY id', [ids.map(key)])).map((r: { status: string }) => r.status);
  const storedUsers = async (users: string[]) =>
    Number((await db.query('SELECT COUNT(*) AS n FROM credit_records WHERE user_id IN (?)', [users]))[0].n);
  const decisionFiles = async () =>
    Number(
      (await db.query('SELECT COUNT(*) AS n FROM decision_files f JOIN partners p ON p.id = f.partner_id WHERE p.code = ?', [bank.code]))[0]
        .n,
    );

  beforeAll(async () => {
    api = await startHttpApp('api', { BULK_MAX_LINES: String(CAP) });
    db = dataSourceOf(api);
    bank = new BankClient(uniqueCode('LC'));
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(api, bank.code, ['applicant.name']);
    refs = await seedDeliveredReferrals(db, { partnerCode: bank.code, productCode, count: 4 * CAP, userIdPrefix: `${bank.code}_` });
    partnerToken = await bank.accessToken(api);
  });

  afterAll(async () => {
    await api?.close();
  });

  describe('POST /partner/v1/decisions', () => {
    const bulk = (payload: string | unknown[]) => post('/partner/v1/decisions', payload, { authorization: `Bearer ${partnerToken}` });
    const approve = (ref: string) => ({ referralId: ref, decision: 'APPROVED', decidedAt: now() });

    it('refuses cap + 1 lines (NDJSON or JSON array) with 413 before deciding any of them', async () => {
      const over = refs.slice(0, CAP + 1);
      expectTooManyLines(await bulk(ndjson(over.map(approve))), CAP);
      expectTooManyLines(await bulk(over.map(approve)), CAP);
      expect(await statuses(over)).toEqual(over.map(() => 'DELIVERED'));
      const decided = await db.query("SELECT COUNT(*) AS n FROM audit_inbox WHERE action = 'referral.decided' AND resource_id IN (?)", [
        over,
      ]);
      expect(Number(decided[0].n)).toBe(0);
    });

    it('decides exactly cap lines; blank lines do not count', async () => {
      const atCap = refs.slice(CAP + 1, 2 * CAP + 1);
      const res = await bulk(ndjson(atCap.flatMap((r) => [approve(r), ''])));
      expect(res.statusCode).toBe(200);
      expect(res.json().results.map((r: { status: number }) => r.status)).toEqual(atCap.map(() => 200));
      expect(await statuses(atCap)).toEqual(atCap.map(() => 'APPROVED'));
    });

    it('answers a line with a flood of unknown members with a bounded problem', async () => {
      const flood = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x${i}`, 0]));
      const res = await bulk(ndjson([{ ...approve(refs[2 * CAP + 1]), ...flood }]));
      expect(res.statusCode).toBe(200);
      const [line] = res.json().results;
      expect(line.status).toBe(400);
      expect(line.problem.errors).toHaveLength(20);
      expect(await statuses([refs[2 * CAP + 1]])).toEqual(['DELIVERED']);
    });
  });

  describe('POST /partner/v1/decision-files and /v1/admin/partners/{code}/decision-files', () => {
    const line = (ref: string) => JSON.stringify({ referralId: ref, decision: 'DECLINED', decidedAt: now() });
    const csv = (ids: string[]) => ['referralId,decision,decidedAt', ...ids.map((r) => `${r},DECLINED,${now()}`)].join('\n') + '\n';
    const upload = (body: string, contentType: string) =>
      post('/partner/v1/decision-files', body, { authorization: `Bearer ${partnerToken}` }, contentType);

    it('refuses a file of cap + 1 lines (NDJSON or CSV, partner or operator) with 413 and stores nothing', async () => {
      const over = refs.slice(2 * CAP + 2, 3 * CAP + 3);
      const before = await decisionFiles();
      expectTooManyLines(await upload(over.map(line).join('\n'), 'application/x-ndjson'), CAP);
      expectTooManyLines(await upload(csv(over), 'text/csv'), CAP);
      expectTooManyLines(await post(`/v1/admin/partners/${bank.code}/decision-files`, csv(over), adminHeaders(), 'text/csv'), CAP);
      expect(await decisionFiles()).toBe(before);
    });

    it('accepts a file of exactly cap lines (the CSV header and blank lines do not count)', async () => {
      const atCap = refs.slice(2 * CAP + 2, 3 * CAP + 2);
      const before = await decisionFiles();
      const fromCsv = await upload(csv(atCap).replace(/\n/g, '\n\n'), 'text/csv');
      expect(fromCsv.statusCode).toBe(202);
      const fromNdjson = await upload(atCap.map(line).join('\n\n') + '\n', 'application/x-ndjson');
      expect(fromNdjson.statusCode).toBe(202);
      expect(await decisionFiles()).toBe(before + 2);
      const totals = await db.query('SELECT total_lines FROM decision_files WHERE id IN (?)', [
        [fromCsv.json().id, fromNdjson.json().id].map(key),
      ]);
      expect(totals.map((t: { total_lines: number }) => Number(t.total_lines))).toEqual([CAP, CAP]);
    });
  });

  describe('POST /v1/platform/credit-records', () => {
    const ingest = (payload: string | unknown[]) => post('/v1/platform/credit-records', payload, platform());

    it('refuses cap + 1 lines (NDJSON or JSON array) with 413 and stores none of them', async () => {
      const users = prefixed(CAP + 1);
      const records = users.map((u, i) => creditRecordLine(u, i));
      expectTooManyLines(await ingest(ndjson(records)), CAP);
      expectTooManyLines(await ingest(records), CAP);
      expect(await storedUsers(users)).toBe(0);
    });

    it('stores exactly cap lines, in either form', async () => {
      const users = prefixed(2 * CAP);
      const records = users.map((u, i) => creditRecordLine(u, i));
      const fromNdjson = await ingest(ndjson(records.slice(0, CAP)));
      expect(fromNdjson.statusCode).toBe(200);
      expect(fromNdjson.json()).toEqual({ accepted: CAP, ignored: 0, rejected: [] });
      const fromArray = await ingest(records.slice(CAP));
      expect(fromArray.statusCode).toBe(200);
      expect(fromArray.json()).toEqual({ accepted: CAP, ignored: 0, rejected: [] });
      expect(await storedUsers(users)).toBe(2 * CAP);
    });

    it('reports at most 20 errors for one line, however many members it gets wrong', async () => {
      const [user] = prefixed(1);
      const flood = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x${i}`, 0]));
      const res = await ingest(ndjson([{ ...creditRecordLine(user), ...flood }]));
      expect(res.statusCode).toBe(200);
      expect(res.json().rejected).toEqual([{ line: 1, errors: expect.any(Array) }]);
      expect(res.json().rejected[0].errors).toHaveLength(20);
      expect(await storedUsers([user])).toBe(0);
    });
  });

  describe('POST /v1/platform/repayment-status', () => {
    const repayment = (payload: string | unknown[]) => post('/v1/platform/repayment-status', payload, platform());
    const overdue = (userId: string) => ({ userId, currentDpd: 45, overdueAmount: '120.00', asOf: new Date().toISOString().slice(0, 10) });
    const dpdOf = async (users: string[]): Promise<number[]> =>
      (await db.query('SELECT current_dpd FROM credit_records WHERE user_id IN (?) ORDER BY user_id', [users])).map(
        (r: { current_dpd: number }) => Number(r.current_dpd),
      );

    it('refuses cap + 1 updates with 413 and applies none; applies exactly cap', async () => {
      const users = prefixed(CAP + 1);
      const seeded = await post('/v1/platform/credit-records', ndjson(users.slice(0, CAP).map((u) => creditRecordLine(u))), platform());
      expect(seeded.json()).toMatchObject({ accepted: CAP });
      const seededLast = await post('/v1/platform/credit-records', [creditRecordLine(users[CAP])], platform());
      expect(seededLast.json()).toMatchObject({ accepted: 1 });
      const before = await dpdOf(users);
      expect(before.every((dpd) => dpd !== 45)).toBe(true);

      expectTooManyLines(await repayment(ndjson(users.map(overdue))), CAP);
      expectTooManyLines(await repayment(users.map(overdue)), CAP);
      expect(await dpdOf(users)).toEqual(before);

      const res = await repayment(ndjson(users.slice(0, CAP).map(overdue)));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ accepted: CAP, ignored: 0, rejected: [] });
      expect(await dpdOf(users.slice(0, CAP))).toEqual(users.slice(0, CAP).map(() => 45));
    });
  });

  describe('POST /partner/v1/delinquencies (NDJSON)', () => {
    it('refuses cap + 1 lines with 413 and stores none of them', async () => {
      // The referrals need not be APPROVED: the cap is checked before any line is read as a report.
      const lines = refs.slice(0, CAP + 1).map((referralId) => ({ referralId, dpd: 45, amountOverdue: '120.00', asOf: '2026-01-01' }));
      expectTooManyLines(await post('/partner/v1/delinquencies', ndjson(lines), { authorization: `Bearer ${partnerToken}` }), CAP);
      expectTooManyLines(await post('/partner/v1/delinquencies', lines, { authorization: `Bearer ${partnerToken}` }), CAP);
      const stored = await db.query('SELECT COUNT(*) AS n FROM partner_delinquencies WHERE referral_id IN (?)', [refs.map(key)]);
      expect(Number(stored[0].n)).toBe(0);
    });
  });
});

/** A POST over a real socket; resolves with the status, headers and body, rejects when the connection dies. */
function postOverSocket(
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode!, headers: res.headers, body: text }));
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('a real api process (default cap, 256 MB heap) and 10 MiB bodies of five million lines on every bulk endpoint', () => {
  const ZEROS = '0\n'.repeat(5 * 1024 * 1024);
  let setup: NestFastifyApplication;
  let child: ChildProcess;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stderrTail = '';
  let baseUrl: string;
  let partnerToken: string;
  let bank: BankClient;
  let refs: string[];

  beforeAll(async () => {
    ensureBuilt();
    setup = await startHttpApp('api');
    bank = new BankClient(uniqueCode('LP'));
    await registerPartner(setup, bank.code, { keys: [bank.publicJwk()] });
    const productCode = await createProduct(setup, bank.code, ['applicant.name']);
    refs = await seedDeliveredReferrals(dataSourceOf(setup), {
      partnerCode: bank.code,
      productCode,
      count: 2,
      userIdPrefix: `${bank.code}_`,
    });
    partnerToken = await bank.accessToken(setup);

    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--max-old-space-size=256', BUILT_GATEWAY, 'api'], {
      env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', API_PROCESSES: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // The end of stderr, to show why the process died if it does (on the unfixed code: heap out of memory).
    child.stderr!.on('data', (chunk: Buffer) => (stderrTail = (stderrTail + chunk.toString()).slice(-2000)));
    child.once('exit', (code, signal) => (exited = { code, signal }));
    await eventually(async () => (await fetch(`${baseUrl}/health/live`)).ok, 60_000, 200);
  });

  afterAll(async () => {
    if (child && !exited) {
      child.kill('SIGTERM');
      await eventually(async () => exited, 20_000).catch(() => child.kill('SIGKILL'));
    }
    await setup?.close();
  });

  const platform = () => ({ authorization: `Bearer ${platformToken(['platform'])}` });
  const partner = () => ({ authorization: `Bearer ${partnerToken}` });
  // Just under 10 MiB (a byte more is the body-size 413, not this one).
  const zerosArray = `[${'0,'.repeat(5 * 1024 * 1024 - 2)}0]`;
  const cases: Array<{
    name: string;
    url: string;
    auth: () => Record<string, string>;
    contentType: string;
    body?: string;
    next: () => string;
    nextStatus: number;
  }> = [
    {
      name: 'bulk decisions',
      url: '/partner/v1/decisions',
      auth: partner,
      contentType: 'application/x-ndjson',
      next: () => JSON.stringify({ referralId: refs[0], decision: 'APPROVED', decidedAt: now() }),
      nextStatus: 200,
    },
    {
      name: 'decision files',
      url: '/partner/v1/decision-files',
      auth: partner,
      contentType: 'application/x-ndjson',
      next: () => JSON.stringify({ referralId: refs[1], decision: 'DECLINED', decidedAt: now() }),
      nextStatus: 202,
    },
    {
      name: 'credit records',
      url: '/v1/platform/credit-records',
      auth: platform,
      contentType: 'application/x-ndjson',
      next: () => JSON.stringify(creditRecordLine(prefixed(1)[0])),
      nextStatus: 200,
    },
    {
      name: 'credit records as a JSON array',
      url: '/v1/platform/credit-records',
      auth: platform,
      contentType: 'application/json',
      body: zerosArray,
      next: () => JSON.stringify([creditRecordLine(prefixed(1)[0])]),
      nextStatus: 200,
    },
    {
      name: 'repayment status',
      url: '/v1/platform/repayment-status',
      auth: platform,
      contentType: 'application/x-ndjson',
      next: () => JSON.stringify({ userId: 'lc-nobody', currentDpd: 0, overdueAmount: '0.00', asOf: '2026-01-01' }),
      nextStatus: 200,
    },
  ];

  it.each(cases)('$name: a small 413 within seconds, and the process goes on serving', async (c) => {
    const { url, auth, contentType, next, nextStatus } = c;
    const started = Date.now();
    const res = await postOverSocket(`${baseUrl}${url}`, { ...auth(), 'content-type': contentType }, c.body ?? ZEROS).catch(
      (error: Error) => {
        throw new Error(`${error.message}; the api process ${exited ? `exited (${JSON.stringify(exited)})` : 'is up'}: ${stderrTail}`);
      },
    );
    const elapsed = Date.now() - started;
    expectTooManyLines(res, 10_000);
    expect(res.body.length).toBeLessThan(1024);
    expect(elapsed).toBeLessThan(15_000);

    const after = await postOverSocket(`${baseUrl}${url}`, { ...auth(), 'content-type': contentType }, next() + '\n');
    expect(after.statusCode).toBe(nextStatus);
    expect(exited).toBeUndefined();
  });
});
