import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DataSource } from 'typeorm';

import { SigningService } from '../../src/modules/signing/signing.service';
import { startHttpApp } from '../support/app';
import { adminHeaders, BankClient, GATEWAY, inject, JWT_BEARER, uniqueCode } from '../support/partner-client';

const ALL_SCOPES = 'referrals:read referrals:decide events:read overdue:read delinquency:write';

/** Audit entries wherever they are now: the inbox, or already chained. */
async function auditRows(ds: DataSource, where: string, params: unknown[]) {
  return ds.query(
    `SELECT action, actor_id, partner_code, outcome, http_status, details FROM audit_inbox WHERE ${where}
     UNION ALL SELECT action, actor_id, partner_code, outcome, http_status, details FROM audit_events WHERE ${where}`,
    [...params, ...params],
  ) as Promise<
    { action: string; actor_id: string; partner_code: string | null; outcome: string; http_status: number; details: string | null }[]
  >;
}

describe('POST /oauth/token (RFC 6749 client credentials + RFC 7523 private_key_jwt)', () => {
  let app: NestFastifyApplication;
  let es: BankClient;
  let rs: BankClient;
  let ps: BankClient;
  let other: BankClient;

  beforeAll(async () => {
    app = await startHttpApp();
    es = new BankClient(uniqueCode('ES'), 'ES256');
    rs = new BankClient(uniqueCode('RS'), 'RS256');
    ps = new BankClient(uniqueCode('PS'), 'PS256');
    other = new BankClient(uniqueCode('OTHER'), 'ES256');
    for (const bank of [es, rs, ps, other]) await bank.register(app);
  });

  afterAll(async () => {
    await app.close();
  });

  it.each(['ES256', 'RS256', 'PS256'])('issues an at+jwt access token for a good %s assertion', async (alg) => {
    const bank = { ES256: es, RS256: rs, PS256: ps }[alg]!;
    const res = await bank.requestToken(app);
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900, scope: ALL_SCOPES });

    // A partner verifies it with a standard JOSE library through the published JWKS.
    const jwks = (await inject(app, { method: 'GET', url: '/.well-known/jwks.json' })).json();
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), {
      issuer: GATEWAY,
      audience: GATEWAY,
      typ: 'at+jwt',
    });
    expect(protectedHeader.kid).toEqual(expect.any(String));
    expect(payload).toMatchObject({ sub: bank.code, client_id: bank.code, scope: ALL_SCOPES, jti: expect.any(String) });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(900);
  });

  it('accepts the issuer itself as the assertion audience, and a scope subset', async () => {
    const res = await es.requestToken(app, { client_assertion: es.assertion({ aud: GATEWAY }), scope: 'events:read referrals:read' });
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('referrals:read events:read');
  });

  it('never accepts an access token as an artefact, nor an artefact as an access token', async () => {
    const token = await es.accessToken(app);
    const signing = app.get(SigningService);
    await expect(signing.verify('referral', token, { audience: es.code })).rejects.toThrow();
    await expect(signing.verify('referral', token, { audience: GATEWAY })).rejects.toThrow();

    const referral = await signing.sign(
      'referral',
      { scope: ALL_SCOPES, client_id: es.code },
      { audience: GATEWAY, subject: es.code, expiresInSeconds: 60 },
    );
    const res = await inject(app, { method: 'GET', url: '/partner/v1/me', headers: { authorization: `Bearer ${referral.token}` } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    const ok = await inject(app, { method: 'GET', url: '/partner/v1/me', headers: { authorization: `Bearer ${token}` } });
    expect(ok.statusCode).toBe(200);
  });

  describe('refuses', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<Awaited<ReturnType<BankClient['requestToken']>>>, number, string][] = [
      [
        'an unknown kid',
        () => es.requestToken(app, { client_assertion: es.assertion({}, { kid: 'not-registered' }) }),
        401,
        'invalid_client',
      ],
      [
        'a key registered to another partner',
        () => es.requestToken(app, { client_assertion: other.assertion({ iss: es.code, sub: es.code }) }),
        401,
        'invalid_client',
      ],
      ['alg none', () => es.requestToken(app, { client_assertion: es.unsignedAssertion() }), 401, 'invalid_client'],
      [
        'HS256 keyed with the registered public key',
        () => rs.requestToken(app, { client_assertion: rs.hmacWithPublicKey() }),
        401,
        'invalid_client',
      ],
      [
        'an expired assertion',
        () => es.requestToken(app, { client_assertion: es.assertion({ iat: now() - 400, exp: now() - 120 }) }),
        401,
        'invalid_client',
      ],
      [
        'exp more than 300 s after iat',
        () => es.requestToken(app, { client_assertion: es.assertion({ iat: now(), exp: now() + 301 }) }),
        401,
        'invalid_client',
      ],
      ['a missing exp', () => es.requestToken(app, { client_assertion: es.assertion({ exp: undefined }) }), 401, 'invalid_client'],
      ['a missing jti', () => es.requestToken(app, { client_assertion: es.assertion({ jti: undefined }) }), 401, 'invalid_client'],
      [
        'a wrong aud',
        () => es.requestToken(app, { client_assertion: es.assertion({ aud: 'https://elsewhere.example/oauth/token' }) }),
        401,
        'invalid_client',
      ],
      [
        'iss different from sub',
        () => es.requestToken(app, { client_assertion: es.assertion({ sub: other.code }) }),
        401,
        'invalid_client',
      ],
      ['an unknown client', () => new BankClient(uniqueCode('GHOST')).requestToken(app), 401, 'invalid_client'],
      ['a client_id that is not the assertion issuer', () => es.requestToken(app, { client_id: other.code }), 401, 'invalid_client'],
      [
        'another client assertion type',
        () => es.requestToken(app, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }),
        401,
        'invalid_client',
      ],
      [
        'no client authentication',
        () => es.requestToken(app, { client_assertion_type: undefined, client_assertion: undefined }),
        401,
        'invalid_client',
      ],
      ['a garbage assertion', () => es.requestToken(app, { client_assertion: 'not.a.jwt' }), 401, 'invalid_client'],
      ['another grant type', () => es.requestToken(app, { grant_type: 'password' }), 400, 'unsupported_grant_type'],
      ['a missing grant type', () => es.requestToken(app, { grant_type: undefined }), 400, 'invalid_request'],
      ['a missing assertion', () => es.requestToken(app, { client_assertion: undefined }), 400, 'invalid_request'],
      ['an unknown scope', () => es.requestToken(app, { scope: 'referrals:read admin' }), 400, 'invalid_scope'],
    ];

    it.each(cases)('%s', async (_name, request, status, error) => {
      const res = await request();
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({ error, error_description: expect.any(String) });
      if (status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_client"/);
      else expect(res.headers['www-authenticate']).toBeUndefined();
    });

    it('a replayed jti', async () => {
      const assertion = es.assertion();
      expect((await es.requestToken(app, { client_assertion: assertion })).statusCode).toBe(200);
      const replay = await es.requestToken(app, { client_assertion: assertion });
      expect(replay.statusCode).toBe(401);
      expect(replay.json().error).toBe('invalid_client');
    });

    it('the same jti raced by concurrent requests, all but one', async () => {
      const assertion = es.assertion();
      const results = await Promise.all([1, 2, 3, 4, 5].map(() => es.requestToken(app, { client_assertion: assertion })));
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401, 401, 401, 401]);
    });

    it('a scope the partner was not granted', async () => {
      const narrow = new BankClient(uniqueCode('NARROW'));
      await narrow.register(app, { scopes: ['events:read'] });
      const res = await narrow.requestToken(app, { scope: 'referrals:read' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_scope');
      expect((await narrow.requestToken(app)).json().scope).toBe('events:read');
    });

    it('a suspended partner, and takes it back once reactivated', async () => {
      const bank = new BankClient(uniqueCode('SUSP'));
      await bank.register(app);
      const patch = (status: string) =>
        inject(app, { method: 'PATCH', url: `/v1/admin/partners/${bank.code}`, headers: adminHeaders(), payload: { status } });
      expect((await patch('SUSPENDED')).statusCode).toBe(200);
      const res = await bank.requestToken(app);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_client');
      expect((await patch('ACTIVE')).statusCode).toBe(200);
      expect((await bank.requestToken(app)).statusCode).toBe(200);
    });

    it('a JSON body (the endpoint is form-encoded)', async () => {
      const res = await inject(app, {
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/json' },
        payload: { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: es.assertion() },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    });

    it('a repeated parameter', async () => {
      const body = `grant_type=client_credentials&grant_type=client_credentials&client_assertion_type=${encodeURIComponent(JWT_BEARER)}&client_assertion=${es.assertion()}`;
      const res = await inject(app, {
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: body,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    });
  });

  it('audits issued and refused tokens without the assertion', async () => {
    const bank = new BankClient(uniqueCode('AUD'));
    await bank.register(app);
    const good = bank.assertion();
    expect((await bank.requestToken(app, { client_assertion: good })).statusCode).toBe(200);
    const expired = bank.assertion({ iat: Math.floor(Date.now() / 1000) - 400, exp: Math.floor(Date.now() / 1000) - 100 });
    expect((await bank.requestToken(app, { client_assertion: expired })).statusCode).toBe(401);

    const rows = await auditRows(app.get(DataSource), 'actor_id = ? AND action LIKE ?', [bank.code, 'oauth.token.%']);
    const byAction = Object.fromEntries(rows.map((r) => [r.action, r]));
    expect(byAction['oauth.token.issued']).toMatchObject({ outcome: 'SUCCESS', http_status: 200, partner_code: bank.code });
    expect(byAction['oauth.token.refused']).toMatchObject({ outcome: 'DENIED', http_status: 401, partner_code: bank.code });
    expect(JSON.parse(byAction['oauth.token.refused'].details!)).toMatchObject({ error: 'invalid_client', reason: 'expired' });
    for (const row of rows) {
      expect(row.details ?? '').not.toContain(good.split('.')[1]);
      expect(row.details ?? '').not.toContain(expired.split('.')[1]);
    }
  });
});
