import { randomBytes, randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyInstance, HTTPMethods } from 'fastify';
import { DataSource } from 'typeorm';

import { CLEAR_MEMO_MS } from '../../src/infra/http/rate-limit/anonymous-limit';
import { PartnerCallAudit } from '../../src/modules/auth/partner-call.audit';
import { eventually, startHttpApp, testConfig } from '../support/app';
import { BankClient, uniqueCode } from '../support/partner-client';

/**
 * Callers without a credential are limited per client address before authentication (a Fastify onRequest hook, counted
 * in Redis so every api process shares it), and their failed partner calls are audited once per address and window
 * plus one entry counting the rest, instead of one permanent row each. The test configuration keeps the default limit.
 */
jest.setTimeout(120_000);

/** A client address no other test of the run uses (this spec alone sends from 192.0.2.0/24), so none shares a budget. */
let nextAddress = randomBytes(1)[0];
const address = () => `192.0.2.${1 + (nextAddress++ % 254)}`;
const ipv6 = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;

const from = (
  app: NestFastifyApplication,
  remoteAddress: string,
  url: string,
  headers: Record<string, string> = {},
  method: HTTPMethods = 'GET',
) => (app.getHttpAdapter().getInstance() as FastifyInstance).inject({ method, url, headers, remoteAddress });

type AuditRow = { request_id: string | null; http_status: number | null; outcome: string; actor_id: string; details: string | null };

/** The partner_api.call entries recorded for one client address, oldest first (inbox and chain alike). */
async function partnerCallRows(app: NestFastifyApplication, clientIp: string): Promise<AuditRow[]> {
  const columns = 'request_id, http_status, outcome, actor_id, details, occurred_at';
  const rows: (AuditRow & { occurred_at: Date })[] = await app.get(DataSource).query(
    `SELECT ${columns} FROM audit_inbox WHERE client_ip = ? AND action = 'partner_api.call'
     UNION ALL SELECT ${columns} FROM audit_events WHERE client_ip = ? AND action = 'partner_api.call'
     ORDER BY occurred_at, request_id IS NULL`,
    [clientIp, clientIp],
  );
  return rows.map(({ occurred_at: _, ...row }) => row);
}

describe('anonymous rate limit and audit aggregation', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await startHttpApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('keeps its default of 60 failures a minute per address in the test configuration too', () => {
    expect(testConfig().http.anonymousRateLimit).toEqual({ limit: 60, windowSeconds: 60 });
  });

  it('answers 1,000 anonymous partner calls from one address with 60 × 401 then 429s, and audits them in 2 rows, not 1,000', async () => {
    const client = address();
    const statuses: Record<number, number> = {};
    let last: Awaited<ReturnType<typeof from>> | undefined;
    for (let i = 0; i < 1000; i++) {
      last = await from(app, client, '/partner/v1/referrals', { 'x-request-id': `flood-${i}` });
      statuses[last.statusCode] = (statuses[last.statusCode] ?? 0) + 1;
    }
    expect(statuses).toEqual({ 401: 60, 429: 940 });
    expect(last!.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(last!.json()).toMatchObject({ status: 429, type: 'https://errors.referral-gateway.dev/rate-limited', instance: 'flood-999' });
    const retryAfter = Number(last!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // The first failure is recorded as it happens; the rest are counted and recorded together at the end of the window.
    expect(await partnerCallRows(app, client)).toEqual([
      { request_id: 'flood-0', http_status: 401, outcome: 'DENIED', actor_id: 'anonymous', details: expect.any(String) },
    ]);
    await app.get(PartnerCallAudit).flushAnonymousTallies();
    const rows = await partnerCallRows(app, client);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ request_id: null, http_status: null, outcome: 'DENIED', actor_id: 'anonymous' });
    expect(JSON.parse(rows[1].details!)).toMatchObject({
      aggregated: { count: 999, statuses: { '401': 59, '429': 940 }, routes: { 'GET /partner/v1/referrals': 999 } },
    });
  });

  it('shares one budget between api processes (Redis)', async () => {
    const other = await startHttpApp();
    try {
      const client = address();
      const statuses: number[] = [];
      for (let i = 0; i < 31; i++) statuses.push((await from(app, client, '/v1/admin/partners')).statusCode);
      for (let i = 0; i < 29; i++) statuses.push((await from(other, client, '/partner/v1/me')).statusCode);
      expect(statuses.every((s) => s === 401)).toBe(true);
      expect((await from(other, client, '/v1/me/offers')).statusCode).toBe(429);
      // The first process learns of the other's count within CLEAR_MEMO_MS (it does not ask Redis on every request).
      await eventually(async () => (await from(app, client, '/v1/me/offers')).statusCode === 429, CLEAR_MEMO_MS + 2_000, 100);
    } finally {
      await other.close();
    }
  });

  it('counts failed credentials, failed token requests and unknown routes alike, per address (IPv6 per /64)', async () => {
    const client = address();
    const bad = { authorization: 'Bearer not.a.token' };
    for (let i = 0; i < 20; i++) expect((await from(app, client, '/v1/compliance/users/u1/disclosures', bad)).statusCode).toBe(401);
    for (let i = 0; i < 20; i++) expect((await from(app, client, '/no/such/route')).statusCode).toBe(404);
    for (let i = 0; i < 20; i++) {
      const res = await from(app, client, '/oauth/token', { 'content-type': 'application/x-www-form-urlencoded' }, 'POST');
      expect(res.statusCode).toBe(400);
    }
    expect((await from(app, client, '/partner/v1/me')).statusCode).toBe(429);
    // Another address is not affected.
    expect((await from(app, address(), '/partner/v1/me')).statusCode).toBe(401);

    // One IPv6 /64 is one client: rotating the interface identifier gives no fresh budget.
    const prefix = ipv6().split('::')[0];
    for (let i = 0; i < 60; i++) expect((await from(app, `${prefix}::${i.toString(16)}`, '/partner/v1/me')).statusCode).toBe(401);
    expect((await from(app, `${prefix}::ffff`, '/partner/v1/me')).statusCode).toBe(429);
  });

  it('does not count successes, authenticated callers or health probes, and keeps /health open to a blocked address', async () => {
    const client = address();
    for (let i = 0; i < 70; i++) expect((await from(app, client, '/.well-known/jwks.json')).statusCode).toBe(200);
    for (let i = 0; i < 70; i++) expect((await from(app, client, '/health/live')).statusCode).toBe(200);
    const bank = new BankClient(uniqueCode('ANON'));
    await bank.register(app);
    const token = await bank.accessToken(app, 'events:read');
    // 403 (missing scope) and 404 to an authenticated partner: its own principal limit applies, not the anonymous one.
    for (let i = 0; i < 70; i++) {
      expect((await from(app, client, '/partner/v1/referrals', { authorization: `Bearer ${token}` })).statusCode).toBe(403);
    }
    expect((await from(app, client, '/partner/v1/me')).statusCode).toBe(401);

    for (let i = 0; i < 60; i++) await from(app, client, '/partner/v1/me');
    expect((await from(app, client, '/partner/v1/me')).statusCode).toBe(429);
    expect((await from(app, client, '/health/live')).statusCode).toBe(200);
    expect((await from(app, client, '/health/ready')).statusCode).toBe(200);
  });

  it('refuses a blocked address before authentication: a valid token from it gets 429 too', async () => {
    const client = address();
    const bank = new BankClient(uniqueCode('BLK'));
    await bank.register(app);
    const token = await bank.accessToken(app);
    expect((await from(app, client, '/partner/v1/me', { authorization: `Bearer ${token}` })).statusCode).toBe(200);
    for (let i = 0; i < 60; i++) await from(app, client, '/partner/v1/me', { authorization: 'Bearer forged' });
    const blocked = await from(app, client, '/partner/v1/me', { authorization: `Bearer ${token}` });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
  });
});

describe('anonymous limit window', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await startHttpApp('api', { ANONYMOUS_RATE_LIMIT: '5', ANONYMOUS_RATE_LIMIT_WINDOW_SECONDS: '1' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('reopens once the window has passed, and writes the aggregated entry at the end of the window by itself', async () => {
    const client = address();
    let calls = 0;
    const call = async () => {
      calls++;
      return (await from(app, client, '/partner/v1/me', { 'x-request-id': `w-${randomUUID()}` })).statusCode;
    };
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await call());
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    await eventually(async () => (await call()) === 401, 5_000, 100);
    // Every call is accounted for: each one's own entry, or counted in an aggregated entry the window's end wrote.
    const accounted = async () => {
      const rows = await partnerCallRows(app, client);
      const counted = rows.map((r) => (r.request_id === null ? JSON.parse(r.details!).aggregated.count : 1));
      return counted.reduce((a: number, b: number) => a + b, 0);
    };
    await eventually(async () => (await accounted()) === calls, 5_000, 100);
    const rows = await partnerCallRows(app, client);
    expect(rows.length).toBeLessThan(calls);
  });
});
