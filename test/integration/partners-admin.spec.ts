import { generateKeyPairSync } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { startHttpApp } from '../support/app';
import { adminHeaders, BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

const ALL_SCOPES = ['referrals:read', 'referrals:decide', 'events:read', 'overdue:read', 'delinquency:write'];

describe('operator API: /v1/admin/partners', () => {
  let app: NestFastifyApplication;
  const post = (payload: object, headers = adminHeaders()) => inject(app, { method: 'POST', url: '/v1/admin/partners', headers, payload });
  const patch = (code: string, payload: object) =>
    inject(app, { method: 'PATCH', url: `/v1/admin/partners/${code}`, headers: adminHeaders(), payload });
  const list = (query = '') => inject(app, { method: 'GET', url: `/v1/admin/partners${query}`, headers: adminHeaders() });

  beforeAll(async () => {
    app = await startHttpApp();
  });

  afterAll(async () => {
    await app.close();
  });

  it('creates a partner with defaults, public keys only, and audits it in the same transaction', async () => {
    const bank = new BankClient(uniqueCode(), 'RS256');
    const admin = `ops-${bank.code.toLowerCase()}`;
    const res = await post(bank.registration({ pushEndpoint: 'https://bank.example/events' }), {
      authorization: `Bearer ${platformToken(['admin'], admin)}`,
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      code: bank.code,
      clientId: bank.code,
      name: `Bank ${bank.code}`,
      status: 'ACTIVE',
      scopes: ALL_SCOPES,
      pushEndpoint: 'https://bank.example/events',
      overdueThresholdDays: 30,
      noticeDays: 7,
      createdAt: expect.any(String),
    });
    expect(body.jwks.keys).toEqual([{ kty: 'RSA', kid: bank.kid, use: 'sig', n: expect.any(String), e: 'AQAB' }]);
    expect(JSON.stringify(body)).not.toMatch(/"d"|"p"|"q"|PRIVATE/);

    const rows = await app.get(DataSource).query(
      `SELECT actor_type, actor_id, outcome, http_status FROM audit_inbox WHERE action = 'partner.created' AND resource_id = ?
         UNION ALL SELECT actor_type, actor_id, outcome, http_status FROM audit_events WHERE action = 'partner.created' AND resource_id = ?`,
      [bank.code, bank.code],
    );
    expect(rows).toEqual([{ actor_type: 'admin', actor_id: admin, outcome: 'SUCCESS', http_status: 201 }]);
  });

  it('accepts an EC P-256 PEM public key, naming it by its RFC 7638 thumbprint', async () => {
    const bank = new BankClient(uniqueCode(), 'ES256');
    const res = await post({
      code: bank.code,
      name: 'PEM bank',
      publicKeyPem: bank.publicPem(),
      scopes: ['events:read'],
      noticeDays: 10,
      overdueThresholdDays: 60,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ scopes: ['events:read'], noticeDays: 10, overdueThresholdDays: 60, pushEndpoint: null });
    expect(res.json().jwks.keys).toEqual([
      {
        kty: 'EC',
        crv: 'P-256',
        kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        use: 'sig',
        x: expect.any(String),
        y: expect.any(String),
      },
    ]);
  });

  it('refuses a duplicate code with 409', async () => {
    const bank = new BankClient(uniqueCode());
    expect((await post(bank.registration())).statusCode).toBe(201);
    const again = await post(bank.registration());
    expect(again.statusCode).toBe(409);
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  describe('refuses bad bodies with 400', () => {
    const bank = new BankClient(uniqueCode());
    const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    const jwkOf = (k: typeof ed, kid = 'k1') => ({ ...(k.export({ format: 'jwk' }) as object), kid });
    const cases: [string, () => object][] = [
      ['an unknown field', () => ({ ...bank.registration(), admin: true })],
      ['a bad code', () => ({ ...bank.registration(), code: 'bank one' })],
      ['a one-letter code', () => ({ ...bank.registration(), code: 'B' })],
      ['no keys', () => ({ code: uniqueCode(), name: 'x' })],
      ['both jwks and a PEM', () => ({ ...bank.registration(), publicKeyPem: bank.publicPem() })],
      ['a key without kid', () => ({ ...bank.registration(), jwks: { keys: [{ ...bank.publicJwk(), kid: undefined }] } })],
      [
        'a private JWK',
        () => ({ ...bank.registration(), jwks: { keys: [{ ...(bank.privateKey.export({ format: 'jwk' }) as object), kid: 'k1' }] } }),
      ],
      [
        'a private PEM',
        () => ({ code: uniqueCode(), name: 'x', publicKeyPem: bank.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }),
      ],
      ['an RSA key under 2048 bits', () => ({ ...bank.registration(), jwks: { keys: [jwkOf(weakRsa)] } })],
      ['an EC key on P-384', () => ({ ...bank.registration(), jwks: { keys: [jwkOf(p384)] } })],
      ['an Ed25519 key', () => ({ ...bank.registration(), jwks: { keys: [jwkOf(ed)] } })],
      ['an HMAC key', () => ({ ...bank.registration(), jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k1' }] } })],
      ['two keys with one kid', () => ({ ...bank.registration(), jwks: { keys: [bank.publicJwk(), bank.publicJwk()] } })],
      ['a key whose alg does not fit it', () => ({ ...bank.registration(), jwks: { keys: [bank.publicJwk({ alg: 'RS256' })] } })],
      ['an unknown scope', () => ({ ...bank.registration(), scopes: ['referrals:read', 'admin'] })],
      ['a zero notice period', () => ({ ...bank.registration(), noticeDays: 0 })],
      ['a fractional threshold', () => ({ ...bank.registration(), overdueThresholdDays: 1.5 })],
    ];
    it.each(cases)('%s', async (_name, body) => {
      const res = await post(body());
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().errors?.length).toBeGreaterThan(0);
    });
  });

  describe('refuses push endpoints that could reach inside (SSRF) when private endpoints are not allowed', () => {
    let strict: NestFastifyApplication;
    beforeAll(async () => {
      strict = await startHttpApp('api', { PUSH_ALLOW_PRIVATE_ENDPOINTS: 'false' });
    });
    afterAll(async () => {
      await strict.close();
    });
    const create = (pushEndpoint: string) =>
      inject(strict, {
        method: 'POST',
        url: '/v1/admin/partners',
        headers: adminHeaders(),
        payload: new BankClient(uniqueCode()).registration({ pushEndpoint }),
      });

    it.each([
      'http://93.184.216.34/events', // plain http
      'https://localhost/events',
      'https://127.0.0.1/events',
      'https://10.1.2.3/events',
      'https://172.16.0.1/events',
      'https://192.168.1.1/events',
      'https://169.254.169.254/latest/meta-data',
      'https://100.64.0.1/events',
      'https://224.0.0.1/events',
      'https://0.0.0.0/events',
      'https://[::1]/events',
      'https://[fe80::1]/events',
      'https://[fd00::1]/events',
      'https://[ff02::1]/events',
      'https://[::]/events',
      'https://[::ffff:127.0.0.1]/events',
      'https://[64:ff9b::a00:1]/events',
      'https://user:pw@93.184.216.34/events',
      'https://nowhere.invalid/events',
      'not a url',
    ])('%s', async (endpoint) => {
      const res = await create(endpoint);
      expect(res.statusCode).toBe(400);
      expect(res.json().errors).toEqual([expect.objectContaining({ field: 'pushEndpoint' })]);
    });

    it('refuses the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) and stores no partner', async () => {
      for (const address of ['64:ff9b:1::a00:1', '64:ff9b:1:ffff::808:808']) {
        const bank = new BankClient(uniqueCode());
        const res = await inject(strict, {
          method: 'POST',
          url: '/v1/admin/partners',
          headers: adminHeaders(),
          payload: bank.registration({ pushEndpoint: `https://[${address}]/events` }),
        });
        expect(res.statusCode).toBe(400);
        expect(res.json().errors).toEqual([expect.objectContaining({ field: 'pushEndpoint' })]);
        expect(await strict.get(DataSource).query('SELECT id FROM partners WHERE code = ?', [bank.code])).toEqual([]);
      }
    });

    it('accepts a public https address, and refuses a private one on PATCH too', async () => {
      const bank = new BankClient(uniqueCode());
      const res = await inject(strict, {
        method: 'POST',
        url: '/v1/admin/partners',
        headers: adminHeaders(),
        payload: bank.registration({ pushEndpoint: 'https://93.184.216.34/events' }),
      });
      expect(res.statusCode).toBe(201);
      const bad = await inject(strict, {
        method: 'PATCH',
        url: `/v1/admin/partners/${bank.code}`,
        headers: adminHeaders(),
        payload: { pushEndpoint: 'https://10.0.0.1/x' },
      });
      expect(bad.statusCode).toBe(400);
    });
  });

  it('allows a private plain-http endpoint where configuration allows it (development, tests)', async () => {
    const res = await post(new BankClient(uniqueCode()).registration({ pushEndpoint: 'http://127.0.0.1:4000/events' }));
    expect(res.statusCode).toBe(201);
  });

  it('patches settings, keys and status, and audits each change', async () => {
    const bank = new BankClient(uniqueCode());
    await bank.register(app, { pushEndpoint: 'https://bank.example/events' });
    const newKey = new BankClient(bank.code, 'RS256');

    const res = await patch(bank.code, {
      name: 'Renamed',
      scopes: ['overdue:read'],
      noticeDays: 14,
      pushEndpoint: null,
      jwks: { keys: [newKey.publicJwk()] },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      name: 'Renamed',
      scopes: ['overdue:read'],
      noticeDays: 14,
      overdueThresholdDays: 30,
      pushEndpoint: null,
      status: 'ACTIVE',
    });
    expect(res.json().jwks.keys.map((k: { kid: string }) => k.kid)).toEqual([newKey.kid]);

    const suspended = await patch(bank.code, { status: 'SUSPENDED' });
    expect(suspended.statusCode).toBe(200);
    expect(suspended.json().status).toBe('SUSPENDED');

    const actions = await app
      .get(DataSource)
      .query(`SELECT action FROM audit_inbox WHERE resource_id = ? UNION ALL SELECT action FROM audit_events WHERE resource_id = ?`, [
        bank.code,
        bank.code,
      ]);
    expect(actions.map((r: { action: string }) => r.action).sort()).toEqual(['partner.created', 'partner.suspended', 'partner.updated']);
  });

  it('answers PATCH of an unknown partner 404, an empty PATCH 400, a code change 400, a bad status 400', async () => {
    expect((await patch('NO_SUCH_BANK', { name: 'x' })).statusCode).toBe(404);
    const bank = new BankClient(uniqueCode());
    await bank.register(app);
    expect((await patch(bank.code, {})).statusCode).toBe(400);
    expect((await patch(bank.code, { code: 'OTHER' })).statusCode).toBe(400);
    expect((await patch(bank.code, { status: 'DELETED' })).statusCode).toBe(400);
  });

  it('lists partners in creation order, cursor-paginated', async () => {
    const codes = [uniqueCode('LIST'), uniqueCode('LIST'), uniqueCode('LIST')];
    for (const code of codes) await new BankClient(code).register(app);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      const page = res.json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((p: { code: string }) => p.code));
      for (const p of page.data) expect(p.clientId).toBe(p.code);
      cursor = page.nextCursor;
    } while (cursor);
    const mine = seen.filter((c) => codes.includes(c));
    expect(mine).toEqual(codes);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuses bad list queries with 400', async () => {
    expect((await list('?limit=0')).statusCode).toBe(400);
    expect((await list('?limit=501')).statusCode).toBe(400);
    expect((await list('?cursor=garbage!')).statusCode).toBe(400);
    expect((await list('?sort=name')).statusCode).toBe(400);
  });

  it('is for admins only: no token 401, a user or compliance token 403', async () => {
    const bank = new BankClient(uniqueCode());
    const none = await inject(app, { method: 'POST', url: '/v1/admin/partners', payload: bank.registration() });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer realm=/);
    for (const role of ['user', 'compliance', 'platform'] as const) {
      const res = await post(bank.registration(), { authorization: `Bearer ${platformToken([role])}` });
      expect(res.statusCode).toBe(403);
    }
    const listed = await inject(app, {
      method: 'GET',
      url: '/v1/admin/partners',
      headers: { authorization: `Bearer ${platformToken(['user'])}` },
    });
    expect(listed.statusCode).toBe(403);
  });
});
