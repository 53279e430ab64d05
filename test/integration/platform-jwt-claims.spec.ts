import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';

import { dataSourceOf, startHttpApp, testConfig } from '../support/app';
import { BUILT_CLI, ensureBuilt } from '../support/built-dist';
import { BankClient, GATEWAY, inject, TOKEN_ENDPOINT, uniqueCode } from '../support/partner-client';

/**
 * A platform JWT is a bearer credential: one that lives for days, claims to be issued in the future, has no iat, or
 * is another kind of JWT of the identity provider (typ) must not open the platform API. Each refused token is tried
 * on a write (registering a partner), which must answer 401 and store nothing.
 */
const now = () => Math.floor(Date.now() / 1000);

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * An HS256 platform JWT with the run's secret, signed by hand so that any claim or header can be wrong or missing
 * (jsonwebtoken would add iat and typ of its own). Claims set to undefined are left out.
 */
function platformJwt(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const { secret, issuer, audience } = testConfig().platformJwt;
  const payload = { iss: issuer, aud: audience, sub: 'op-1', roles: ['admin'], iat: now(), exp: now() + 300, ...claims };
  const input = `${b64url({ alg: 'HS256', typ: 'JWT', ...header })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret!).update(input).digest('base64url')}`;
}

describe('platform JWT claims', () => {
  let app: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    app = await startHttpApp('api');
    db = dataSourceOf(app);
  });
  afterAll(() => app.close());

  async function registerWith(token: string) {
    const code = uniqueCode('JWT');
    const res = await inject(app, {
      method: 'POST',
      url: '/v1/admin/partners',
      headers: { authorization: `Bearer ${token}` },
      payload: new BankClient(code).registration(),
    });
    const [{ n }] = await db.query('SELECT COUNT(*) AS n FROM partners WHERE code = ?', [code]);
    return { res, stored: Number(n) };
  }

  it.each([
    ['no iat', () => platformJwt({ iat: undefined })],
    ['a lifetime over the 3600 s cap', () => platformJwt({ iat: now(), exp: now() + 3601 })],
    ['a lifetime of a year, issued an hour ago', () => platformJwt({ iat: now() - 3600, exp: now() + 365 * 86400 })],
    ['iat in the future beyond the clock skew', () => platformJwt({ iat: now() + 120, exp: now() + 600 })],
    ['a non-numeric iat', () => platformJwt({ iat: String(now()) })],
    ['typ referral+jwt', () => platformJwt({}, { typ: 'referral+jwt' })],
    ['typ secevent+jwt', () => platformJwt({}, { typ: 'secevent+jwt' })],
    ['typ logout+jwt', () => platformJwt({}, { typ: 'logout+jwt' })],
    ['an empty typ', () => platformJwt({}, { typ: '' })],
  ])('refuses a token with %s: 401, nothing stored', async (_name, token) => {
    const { res, stored } = await registerWith(token());
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.json()).toMatchObject({ type: 'https://errors.referral-gateway.dev/unauthorized', status: 401 });
    expect(stored).toBe(0);
  });

  it.each([
    ['no typ', () => platformJwt({}, { typ: undefined })],
    ['typ JWT', () => platformJwt({}, { typ: 'JWT' })],
    ['typ at+jwt (RFC 9068)', () => platformJwt({}, { typ: 'at+jwt' })],
    ['typ application/at+jwt', () => platformJwt({}, { typ: 'application/at+jwt' })],
    ['exactly the cap', () => platformJwt({ iat: now(), exp: now() + 3600 })],
    ['iat a little ahead, within the clock skew', () => platformJwt({ iat: now() + 10, exp: now() + 300 })],
  ])('accepts a token with %s', async (_name, token) => {
    const { res, stored } = await registerWith(token());
    expect(res.statusCode).toBe(201);
    expect(stored).toBe(1);
  });

  it('takes the cap from PLATFORM_JWT_MAX_LIFETIME_SECONDS', async () => {
    const strict = await startHttpApp('api', { PLATFORM_JWT_MAX_LIFETIME_SECONDS: '600' });
    try {
      const get = (token: string) =>
        inject(strict, { method: 'GET', url: '/v1/admin/partners', headers: { authorization: `Bearer ${token}` } });
      expect((await get(platformJwt({ iat: now(), exp: now() + 600 }))).statusCode).toBe(200);
      expect((await get(platformJwt({ iat: now(), exp: now() + 601 }))).statusCode).toBe(401);
    } finally {
      await strict.close();
    }
  });

  describe('npm run cli -- token', () => {
    beforeAll(ensureBuilt, 180_000);
    const cli = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BUILT_CLI, ...args], {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });

    it('mints tokens the gateway accepts (iat set, lifetime within the cap)', async () => {
      for (const args of [[], ['--ttl', '3600'], ['--ttl', '60']]) {
        const minted = cli(['token', '--role', 'admin', ...args]);
        expect(minted.status).toBe(0);
        const claims = jwt.decode(minted.stdout.trim()) as jwt.JwtPayload;
        expect(claims.iat).toEqual(expect.any(Number));
        const { res, stored } = await registerWith(minted.stdout.trim());
        expect(res.statusCode).toBe(201);
        expect(stored).toBe(1);
      }
    });

    it('refuses a --ttl over the cap, naming PLATFORM_JWT_MAX_LIFETIME_SECONDS', () => {
      const res = cli(['token', '--role', 'admin', '--ttl', '3601']);
      expect(res.status).not.toBe(0);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('PLATFORM_JWT_MAX_LIFETIME_SECONDS');
      const raised = cli(['token', '--role', 'admin', '--ttl', '7200'], { PLATFORM_JWT_MAX_LIFETIME_SECONDS: '7200' });
      expect(raised.status).toBe(0);
    });
  });
});

describe('client assertion audience', () => {
  let app: NestFastifyApplication;
  let bank: BankClient;

  beforeAll(async () => {
    app = await startHttpApp('api');
    bank = new BankClient(uniqueCode('AUD'));
    await bank.register(app);
  });
  afterAll(() => app.close());

  /** The bank's token audit entries wherever they are now: the inbox, or already chained. */
  async function tokenAuditRows() {
    const where = "actor_id = ? AND action LIKE 'oauth.token.%'";
    return (await dataSourceOf(app).query(
      `SELECT action, details FROM audit_inbox WHERE ${where} UNION ALL SELECT action, details FROM audit_events WHERE ${where}`,
      [bank.code, bank.code],
    )) as Array<{ action: string; details: string | null }>;
  }

  it.each([
    ['the token endpoint and another audience', () => [TOKEN_ENDPOINT, 'https://other-resource.example']],
    ['another audience first', () => ['https://other-resource.example', TOKEN_ENDPOINT]],
    ['both the token endpoint and the issuer', () => [TOKEN_ENDPOINT, GATEWAY]],
    ['the token endpoint twice', () => [TOKEN_ENDPOINT, TOKEN_ENDPOINT]],
    ['an empty array', () => []],
  ])('refuses aud as an array of %s: 401 invalid_client, no token issued', async (_name, aud) => {
    const count = (rows: Array<{ action: string; details: string | null }>, action: string, reason?: string) =>
      rows.filter((r) => r.action === action && (reason === undefined || JSON.parse(r.details!).reason === reason)).length;
    const before = await tokenAuditRows();
    const res = await bank.requestToken(app, { client_assertion: bank.assertion({ aud: aud() }) });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
    expect(res.json()).not.toHaveProperty('access_token');
    const after = await tokenAuditRows();
    expect(count(after, 'oauth.token.issued')).toBe(count(before, 'oauth.token.issued'));
    expect(count(after, 'oauth.token.refused', 'audience')).toBe(count(before, 'oauth.token.refused', 'audience') + 1);
  });

  it.each([
    ['the token endpoint', () => TOKEN_ENDPOINT],
    ['the issuer', () => GATEWAY],
    ['an array of just the token endpoint', () => [TOKEN_ENDPOINT]],
    ['an array of just the issuer', () => [GATEWAY]],
  ])('accepts aud as %s', async (_name, aud) => {
    const res = await bank.requestToken(app, { client_assertion: bank.assertion({ aud: aud() }) });
    expect(res.statusCode).toBe(200);
    expect(res.json().access_token).toEqual(expect.any(String));
  });
});
