import { generateKeyPairSync, randomInt, randomUUID } from 'node:crypto';

import { Controller, Get, Module } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyInstance } from 'fastify';
import * as jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';

import { AppModule } from '../../src/app.module';
import { createHttpApp } from '../../src/infra/http/http-app.factory';
import { Actor, RequestActor } from '../../src/modules/auth/actor.decorator';
import { PartnerScopes } from '../../src/modules/auth/partner-scopes.guard';
import { PlatformRoles } from '../../src/modules/auth/platform-roles.guard';
import { startHttpApp, testConfig } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

/** Routes that exist only in this spec, to exercise the decorators the business modules use. */
@Controller()
class ProbeController {
  @Get('partner/v1/probe/read')
  @PartnerScopes('referrals:read')
  read(@Actor() actor: RequestActor) {
    return actor.principal;
  }

  @Get('partner/v1/probe/decide')
  @PartnerScopes('referrals:read', 'referrals:decide')
  decide() {
    return { ok: true };
  }

  // Outside every route group and not public: closed whatever the decorator says.
  @Get('probe/compliance-only')
  @PlatformRoles('compliance')
  compliance(@Actor() actor: RequestActor) {
    return actor.principal;
  }

  @Get('v1/me/probe')
  @PlatformRoles('user')
  me(@Actor() actor: RequestActor) {
    return actor.principal;
  }

  // In /v1/admin but without a decorator: the route-group gate must still close it.
  @Get('v1/admin/probe-undecorated')
  undecorated() {
    return { open: true };
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('authentication and authorisation', () => {
  let app: NestFastifyApplication;
  let bank: BankClient;
  const get = (url: string, headers: Record<string, string> = {}) => inject(app, { method: 'GET', url, headers });
  /**
   * From a client address of its own: failed credentials count against their address's anonymous budget (and an
   * address's repeated anonymous partner calls are audited together), so tests that fail on purpose keep to theirs.
   */
  const getFrom = (remoteAddress: string, url: string, headers: Record<string, string> = {}) =>
    (app.getHttpAdapter().getInstance() as FastifyInstance).inject({ method: 'GET', url, headers, remoteAddress });
  const freshAddress = () => `198.18.${randomInt(256)}.${1 + randomInt(254)}`;

  beforeAll(async () => {
    const config = testConfig();
    const root = AppModule.forRole('api', config);
    app = await createHttpApp({ ...root, imports: [...(root.imports ?? []), ProbeModule] }, config);
    bank = new BankClient(uniqueCode('GUARD'));
    await bank.register(app);
  });

  afterAll(async () => {
    await app.close();
  });

  describe('platform JWTs', () => {
    it('sets the principal from sub and roles', async () => {
      const res = await get('/v1/me/probe', bearer(platformToken(['user'], 'u_000123')));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ type: 'user', id: 'u_000123', roles: ['user'] });
    });

    it('answers 401 problem+json with a challenge for no, malformed, expired, foreign or wrongly signed tokens', async () => {
      const config = testConfig();
      const { secret, issuer, audience } = config.platformJwt;
      const sign = (claims: object, opts: jwt.SignOptions, key: string = secret!) =>
        jwt.sign({ roles: ['user'], ...claims }, key, { algorithm: 'HS256', subject: 'u_1', ...opts });
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const tokens: Record<string, string | undefined> = {
        none: undefined,
        malformed: 'Basic dXNlcjpwYXNz',
        garbage: 'Bearer not-a-jwt',
        expired: `Bearer ${sign({ exp: Math.floor(Date.now() / 1000) - 120 }, { issuer, audience })}`,
        'wrong issuer': `Bearer ${sign({}, { issuer: 'https://evil.example', audience, expiresIn: 60 })}`,
        'wrong audience': `Bearer ${sign({}, { issuer, audience: 'someone-else', expiresIn: 60 })}`,
        'no exp': `Bearer ${sign({}, { issuer, audience })}`,
        'wrong secret': `Bearer ${sign({}, { issuer, audience, expiresIn: 60 }, 'x'.repeat(40))}`,
        'alg not pinned (RS256)': `Bearer ${jwt.sign({ roles: ['user'] }, rsa, { algorithm: 'RS256', subject: 'u_1', issuer, audience, expiresIn: 60 })}`,
        'alg none': `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'u_1', roles: ['user'], iss: issuer, aud: audience, exp: Math.floor(Date.now() / 1000) + 60 })).toString('base64url')}.`,
        'no known role': `Bearer ${sign({ roles: ['superuser'] }, { issuer, audience, expiresIn: 60 })}`,
      };
      const client = freshAddress();
      for (const [name, authorization] of Object.entries(tokens)) {
        const res = await getFrom(client, '/v1/me/probe', authorization ? { authorization } : {});
        expect({ name, status: res.statusCode }).toEqual({ name, status: 401 });
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="referral-gateway"/);
        expect(res.json()).toMatchObject({ status: 401, type: 'https://errors.referral-gateway.dev/unauthorized' });
      }
    });

    it('answers 403 for a valid token without the role: a user token on /v1/admin, an admin token on /v1/me', async () => {
      const admin = await get('/v1/admin/partners', bearer(platformToken(['user'])));
      expect(admin.statusCode).toBe(403);
      expect(admin.json()).toMatchObject({ status: 403, type: 'https://errors.referral-gateway.dev/forbidden' });
      expect((await get('/v1/me/probe', bearer(platformToken(['admin'])))).statusCode).toBe(403);
      expect((await get('/v1/admin/partners', bearer(platformToken(['user', 'admin'])))).statusCode).toBe(200);
    });

    it('closes a route outside every route group and the public list, whatever its decorator allows (deny by default)', async () => {
      expect((await get('/probe/compliance-only')).statusCode).toBe(404);
      expect((await get('/probe/compliance-only', bearer(platformToken(['admin'])))).statusCode).toBe(404);
      const officer = await get('/probe/compliance-only', bearer(platformToken(['admin', 'compliance'], 'officer-1')));
      expect(officer.statusCode).toBe(404);
      expect(officer.json()).toMatchObject({ status: 404, type: 'https://errors.referral-gateway.dev/not-found' });
    });

    it('closes a route of a group that forgot its decorator', async () => {
      expect((await get('/v1/admin/probe-undecorated')).statusCode).toBe(401);
      expect((await get('/v1/admin/probe-undecorated', bearer(platformToken(['user'])))).statusCode).toBe(403);
      expect((await get('/v1/admin/probe-undecorated', bearer(platformToken(['admin'])))).statusCode).toBe(200);
    });

    it('never lets a partner access token into the platform API, nor a platform token into the partner API', async () => {
      const token = await bank.accessToken(app);
      expect((await get('/v1/admin/partners', bearer(token))).statusCode).toBe(403);
      expect((await get('/partner/v1/me', bearer(platformToken(['admin', 'platform', 'user', 'compliance'])))).statusCode).toBe(403);
    });
  });

  describe('partner access tokens on /partner/v1', () => {
    it('GET /partner/v1/me answers the partner and its token scopes', async () => {
      const token = await bank.accessToken(app, 'events:read');
      const res = await get('/partner/v1/me', bearer(token));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ code: bank.code, clientId: bank.code, name: `Bank ${bank.code}`, scopes: ['events:read'] });
    });

    it('enforces scopes: 403 insufficient_scope with an RFC 6750 challenge', async () => {
      const narrow = await bank.accessToken(app, 'events:read');
      const denied = await get('/partner/v1/probe/read', bearer(narrow));
      expect(denied.statusCode).toBe(403);
      expect(denied.headers['www-authenticate']).toBe(
        'Bearer realm="referral-gateway", error="insufficient_scope", scope="referrals:read"',
      );
      expect(denied.json()).toMatchObject({ status: 403, type: 'https://errors.referral-gateway.dev/insufficient-scope' });

      const readOnly = await bank.accessToken(app, 'referrals:read');
      const ok = await get('/partner/v1/probe/read', bearer(readOnly));
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ type: 'partner', id: bank.code, partnerId: expect.any(String), scopes: ['referrals:read'] });
      expect((await get('/partner/v1/probe/decide', bearer(readOnly))).statusCode).toBe(403);
      expect((await get('/partner/v1/probe/decide', bearer(await bank.accessToken(app)))).statusCode).toBe(200);
    });

    it('refuses no token, a tampered token and the token of a suspended partner with 401', async () => {
      expect((await get('/partner/v1/me')).statusCode).toBe(401);
      const token = await bank.accessToken(app);
      const [h, p, s] = token.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: `${claims.scope} admin` })).toString('base64url')}.${s}`;
      expect((await get('/partner/v1/me', bearer(tampered))).statusCode).toBe(401);

      const other = new BankClient(uniqueCode('SUSP'));
      await other.register(app);
      const otherToken = await other.accessToken(app);
      expect((await get('/partner/v1/me', bearer(otherToken))).statusCode).toBe(200);
      const patched = await inject(app, {
        method: 'PATCH',
        url: `/v1/admin/partners/${other.code}`,
        headers: adminHeaders(),
        payload: { status: 'SUSPENDED' },
      });
      expect(patched.statusCode).toBe(200);
      const refused = await get('/partner/v1/me', bearer(otherToken));
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    });

    it('drops scopes withdrawn from the partner after the token was issued', async () => {
      const shrinking = new BankClient(uniqueCode('SHRINK'));
      await shrinking.register(app);
      const token = await shrinking.accessToken(app);
      await inject(app, {
        method: 'PATCH',
        url: `/v1/admin/partners/${shrinking.code}`,
        headers: adminHeaders(),
        payload: { scopes: ['events:read'] },
      });
      expect((await get('/partner/v1/probe/read', bearer(token))).statusCode).toBe(403);
    });

    it('audits every partner call, allowed or denied, unknown routes included', async () => {
      const token = await bank.accessToken(app, 'events:read');
      const calls: [string, Record<string, string>, number, string, string][] = [
        ['/partner/v1/me', bearer(token), 200, 'SUCCESS', bank.code],
        ['/partner/v1/probe/read', bearer(token), 403, 'DENIED', bank.code],
        ['/partner/v1/me', {}, 401, 'DENIED', 'anonymous'],
        ['/partner/v1/me', bearer('garbage'), 401, 'DENIED', 'anonymous'],
        ['/partner/v1/no-such-route', bearer(token), 404, 'FAILURE', bank.code],
      ];
      const ds = app.get(DataSource);
      for (const [url, headers, status, outcome, actor] of calls) {
        const requestId = `audit-${randomUUID()}`;
        // Each from its own address: an address's later anonymous failures in a window share one aggregated entry.
        const res = await getFrom(freshAddress(), url, { ...headers, 'x-request-id': requestId });
        expect(res.statusCode).toBe(status);
        const rows = await ds.query(
          `SELECT actor_type, actor_id, action, outcome, http_status, partner_code FROM audit_inbox WHERE request_id = ?
           UNION ALL SELECT actor_type, actor_id, action, outcome, http_status, partner_code FROM audit_events WHERE request_id = ?`,
          [requestId, requestId],
        );
        expect(rows).toEqual([
          {
            actor_type: 'partner',
            actor_id: actor,
            action: 'partner_api.call',
            outcome,
            http_status: status,
            partner_code: actor === 'anonymous' ? null : actor,
          },
        ]);
      }
    });

    it('does not audit calls outside /partner/v1 as partner calls', async () => {
      const requestId = `audit-${randomUUID()}`;
      await get('/v1/admin/partners', { ...adminHeaders(), 'x-request-id': requestId });
      const rows = await app
        .get(DataSource)
        .query(
          `SELECT 1 FROM audit_inbox WHERE request_id = ? AND action = 'partner_api.call' UNION ALL SELECT 1 FROM audit_events WHERE request_id = ? AND action = 'partner_api.call'`,
          [requestId, requestId],
        );
      expect(rows).toEqual([]);
    });
  });

  it('authenticates before the rate limiter, which therefore counts per partner, not per IP', async () => {
    const limited = await startHttpApp('api', { RATE_LIMIT: '3' });
    try {
      const a = new BankClient(uniqueCode('RLA'));
      const b = new BankClient(uniqueCode('RLB'));
      // Registered and authenticated through the unlimited app: the limited one shares its Redis counters.
      await a.register(app);
      await b.register(app);
      const tokenA = await a.accessToken(app);
      const tokenB = await b.accessToken(app);
      const call = (token: string) => inject(limited, { method: 'GET', url: '/partner/v1/me', headers: bearer(token) });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await call(tokenA)).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      // Same IP, another principal: its own budget.
      expect((await call(tokenB)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
