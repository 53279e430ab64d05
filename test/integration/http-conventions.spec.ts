import { randomUUID } from 'node:crypto';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';

import { IdempotencyPurge } from '../../src/infra/http/idempotency/idempotency-purge.handler';
import { FixtureCalls, FixtureGate, startConventionsApp } from '../support/fixtures/conventions-fixture.module';
import { platformToken } from '../support/partner-client';

type InjectOptions = {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  payload?: unknown;
};

const PROBLEM = 'application/problem+json';
const typeOf = (code: string) => `https://errors.referral-gateway.dev/${code}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Real platform JWTs, one per caller name (the fixture routes are in the /v1/platform route group). */
const tokens = new Map<string, string>();
const tokenOf = (caller: string) => tokens.get(caller) ?? tokens.set(caller, platformToken(['platform'], caller)).get(caller)!;

/** A call as `x-test-principal` (default: `conventions`), authenticated as that platform caller. */
const call = (app: NestFastifyApplication, options: InjectOptions) => {
  const { payload, headers: { 'x-test-principal': caller = 'conventions', ...headers } = {}, ...rest } = options;
  const isText = typeof payload === 'string';
  const withToken = { authorization: `Bearer ${tokenOf(caller)}`, ...headers };
  return app
    .getHttpAdapter()
    .getInstance()
    .inject({
      ...rest,
      headers: payload !== undefined && !headers['content-type'] ? { 'content-type': 'application/json', ...withToken } : withToken,
      payload: payload === undefined ? undefined : isText ? payload : JSON.stringify(payload),
    });
};

/** Asserts the RFC 9457 shape and that `instance` is the response's request id. */
function expectProblem(res: Awaited<ReturnType<typeof call>>, status: number, code: string) {
  expect(res.statusCode).toBe(status);
  expect(res.headers['content-type']).toContain(PROBLEM);
  const body = res.json();
  expect(body).toMatchObject({ type: typeOf(code), status, instance: res.headers['x-request-id'] });
  expect(typeof body.title).toBe('string');
  return body;
}

describe('HTTP conventions (API.md)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await startConventionsApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  describe('problem+json', () => {
    it('answers malformed JSON with 400', async () => {
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: '{"name": "a",' });
      expectProblem(res, 400, 'malformed-json');
    });

    it('answers an empty JSON body with 400', async () => {
      const res = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        payload: '',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(res, 400, 'malformed-body');
    });

    it('rejects unknown fields, nested ones included, with dotted paths', async () => {
      const res = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        payload: { name: 'a', isAdmin: true, nested: { count: 1, bogus: 2 } },
      });
      const body = expectProblem(res, 400, 'validation-failed');
      expect(body.errors).toEqual(
        expect.arrayContaining([
          { field: 'isAdmin', message: 'is not an accepted field' },
          { field: 'nested.bogus', message: 'is not an accepted field' },
        ]),
      );
    });

    it('reports wrong types per field without echoing the value', async () => {
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: { name: 42, nested: { count: -1 } } });
      const body = expectProblem(res, 400, 'validation-failed');
      const fields = body.errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual(expect.arrayContaining(['name', 'nested.count']));
      // Everything but `instance`, a random request id that can itself contain "-1" (e.g. "…a687-15f0…").
      const { instance: _requestId, ...rest } = body;
      expect(JSON.stringify(rest)).not.toContain('-1');
      expect(JSON.stringify(rest)).not.toContain('42');
    });

    it.each([
      ['a whole body', `${'{"name":'.repeat(1000)}"x"${'}'.repeat(1000)}`],
      ['one member', `{"name":"a","nested":${'['.repeat(1000)}${']'.repeat(1000)}}`],
      ['one member, as objects', `{"name":"a","nested":{"count":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}}`],
    ])('refuses %s nested a thousand levels deep with 400, before the DTO is built', async (_what, payload) => {
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload });
      const body = expectProblem(res, 400, 'nested-too-deep');
      expect(body.detail).toMatch(/32 levels/);
    });

    it('accepts nesting up to the limit (the DTO decides the rest)', async () => {
      const payload = `{"name":"a","nested":{"count":${'['.repeat(30)}${']'.repeat(30)}}}`;
      expectProblem(await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload }), 400, 'validation-failed');
    });

    it('transforms a valid body into its DTO', async () => {
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: { name: 'ok', nested: { count: 2 } } });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({ name: 'ok', nested: { count: 2 }, isDto: true });
    });

    it('answers an unknown route with 404', async () => {
      const res = await call(app, { method: 'GET', url: '/no/such/route?userId=u_1' });
      const body = expectProblem(res, 404, 'not-found');
      expect(JSON.stringify(body)).not.toContain('u_1');
    });

    it('maps an HttpException such as 405', async () => {
      const res = await call(app, { method: 'GET', url: '/v1/platform/__fixtures/method-not-allowed' });
      expect(expectProblem(res, 405, 'method-not-allowed').detail).toBe('Use POST on this resource');
    });

    it('maps a DomainError to its own code, title and detail', async () => {
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/conflict', payload: {} });
      expect(expectProblem(res, 409, 'fixture-conflict')).toMatchObject({
        title: 'Conflict with the current state',
        detail: 'The fixture is always in conflict',
      });
    });

    it.each(['text/plain', 'application/xml'])('answers an unsupported media type (%s) with 415', async (contentType) => {
      const res = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        payload: '<name>a</name>',
        headers: { 'content-type': contentType },
      });
      expectProblem(res, 415, 'unsupported-media-type');
    });

    it('answers 500 with the request id only, never SQL, stack or class names', async () => {
      const res = await call(app, { method: 'GET', url: '/v1/platform/__fixtures/boom', headers: { 'x-request-id': 'trace-500' } });
      const body = expectProblem(res, 500, 'internal-error');
      expect(body.instance).toBe('trace-500');
      expect(Object.keys(body).sort()).toEqual(['detail', 'instance', 'status', 'title', 'type']);
      for (const leak of ['SELECT', 'secret', 'national_id', 'FixtureRepository', 'Error', 'at ', '.ts']) {
        expect(res.body).not.toContain(leak);
      }
    });
  });

  describe('body limits', () => {
    const jsonOfSize = (bytes: number) => JSON.stringify({ name: 'x'.repeat(bytes) });
    const ndjsonOfSize = (bytes: number) => {
      const line = `${JSON.stringify({ userId: 'u', pad: 'x'.repeat(1000) })}\n`;
      return line.repeat(Math.ceil(bytes / line.length));
    };

    it('refuses more than 1 MiB on a normal route with 413', async () => {
      const ok = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: jsonOfSize(900 * 1024) });
      expect(ok.statusCode).toBe(201);
      const res = await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: jsonOfSize(1024 * 1024 + 10) });
      expectProblem(res, 413, 'payload-too-large');
    });

    it('accepts 2 MiB on a bulk route and refuses more than 10 MiB', async () => {
      const body = ndjsonOfSize(2 * 1024 * 1024);
      const ok = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/bulk',
        payload: body,
        headers: { 'content-type': 'application/x-ndjson' },
      });
      expect(ok.statusCode).toBe(201);
      expect(ok.json()).toEqual({ bytes: Buffer.byteLength(body) });
      const res = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/bulk',
        payload: ndjsonOfSize(10 * 1024 * 1024 + 1024),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      expectProblem(res, 413, 'payload-too-large');
    });
  });

  describe('x-request-id', () => {
    it('echoes a well-formed incoming id', async () => {
      const res = await call(app, { method: 'GET', url: '/v1/platform/__fixtures/items', headers: { 'x-request-id': 'Abc.def_1-2' } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toBe('Abc.def_1-2');
    });

    it.each([
      ['characters outside [A-Za-z0-9._-]', 'bad id!'],
      ['more than 128 characters', 'a'.repeat(129)],
    ])('replaces an id with %s by a generated one, which the problem names', async (_why, incoming) => {
      const res = await call(app, { method: 'GET', url: '/missing', headers: { 'x-request-id': incoming } });
      expect(res.headers['x-request-id']).toMatch(UUID);
      expect(res.json().instance).toBe(res.headers['x-request-id']);
    });

    it('generates a distinct id when none is sent', async () => {
      const [a, b] = await Promise.all([
        call(app, { method: 'GET', url: '/v1/platform/__fixtures/items' }),
        call(app, { method: 'GET', url: '/v1/platform/__fixtures/items' }),
      ]);
      expect(a.headers['x-request-id']).toMatch(UUID);
      expect(b.headers['x-request-id']).toMatch(UUID);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });
  });

  describe('Idempotency-Key', () => {
    const calls = () => app.get(FixtureCalls).counts;
    const key = () => `key-${randomUUID()}`;

    it('replays the stored response for the same key and body without running the handler again', async () => {
      const k = key();
      const before = calls().echo ?? 0;
      const first = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': k },
        payload: { name: 'a', nested: { count: 1 } },
      });
      expect(first.statusCode).toBe(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      // Same members in another order: the same request.
      const again = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': k },
        payload: { nested: { count: 1 }, name: 'a' },
      });
      expect(again.statusCode).toBe(201);
      expect(again.body).toBe(first.body);
      expect(again.headers['content-type']).toBe(first.headers['content-type']);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(calls().echo).toBe(before + 1);
    });

    it('keeps the key at least 24 hours', async () => {
      const k = key();
      await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', headers: { 'idempotency-key': k }, payload: { name: 'ttl' } });
      const [row] = await app
        .get(DataSource)
        .query('SELECT state, TIMESTAMPDIFF(MINUTE, NOW(3), expires_at) AS minutes FROM idempotency_keys WHERE idempotency_key = ?', [k]);
      expect(row.state).toBe('COMPLETED');
      expect(Number(row.minutes)).toBeGreaterThanOrEqual(24 * 60 - 1);
    });

    it('answers 422 for the same key with a different body, and keeps the first response', async () => {
      const k = key();
      const first = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': k },
        payload: { name: 'a' },
      });
      const other = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': k },
        payload: { name: 'b' },
      });
      expectProblem(other, 422, 'idempotency-key-reused');
      const again = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': k },
        payload: { name: 'a' },
      });
      expect(again.body).toBe(first.body);
    });

    it('answers 409 while the first request is still in flight, then replays its response', async () => {
      const gate = app.get(FixtureGate);
      const k = key();
      gate.close();
      const first = call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/slow',
        headers: { 'idempotency-key': k },
        payload: { name: 's' },
      });
      await gate.entered;
      const during = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/slow',
        headers: { 'idempotency-key': k },
        payload: { name: 's' },
      });
      expectProblem(during, 409, 'idempotency-key-in-flight');
      gate.open();
      const done = await first;
      expect(done.statusCode).toBe(201);
      const after = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/slow',
        headers: { 'idempotency-key': k },
        payload: { name: 's' },
      });
      expect(after.statusCode).toBe(201);
      expect(after.body).toBe(done.body);
      expect(after.headers['idempotent-replayed']).toBe('true');
    });

    it('replays a stored client error (4xx) as it was', async () => {
      const k = key();
      const first = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/conflict',
        headers: { 'idempotency-key': k },
        payload: {},
      });
      const again = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/conflict',
        headers: { 'idempotency-key': k },
        payload: {},
      });
      expect(again.statusCode).toBe(409);
      expect(again.headers['content-type']).toContain(PROBLEM);
      expect(again.body).toBe(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });

    it('forgets the key after a 5xx so the client can retry', async () => {
      const k = key();
      const failed = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/flaky',
        headers: { 'idempotency-key': k },
        payload: { name: 'f' },
      });
      expectProblem(failed, 500, 'internal-error');
      const retried = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/flaky',
        headers: { 'idempotency-key': k },
        payload: { name: 'f' },
      });
      expect(retried.statusCode).toBe(201);
      expect(retried.headers['idempotent-replayed']).toBeUndefined();
    });

    it('keeps the key after a 5xx whose effect had committed: the same key answers 409 answer-not-kept, never a second run', async () => {
      const k = key();
      const before = calls()['commit-then-fail'] ?? 0;
      const send = () =>
        call(app, {
          method: 'POST',
          url: '/v1/platform/__fixtures/commit-then-fail',
          headers: { 'idempotency-key': k },
          payload: { name: 'c' },
        });
      expectProblem(await send(), 500, 'internal-error');
      expectProblem(await send(), 409, 'idempotency-key-answer-not-kept');
      expect(calls()['commit-then-fail']).toBe(before + 1);
    });

    it('keeps keys per principal', async () => {
      const k = key();
      const before = calls().echo ?? 0;
      for (const partner of ['BANK_A', 'BANK_B']) {
        const res = await call(app, {
          method: 'POST',
          url: '/v1/platform/__fixtures/echo',
          headers: { 'idempotency-key': k, 'x-test-principal': partner },
          payload: { name: 'p' },
        });
        expect(res.statusCode).toBe(201);
        expect(res.headers['idempotent-replayed']).toBeUndefined();
      }
      expect(calls().echo).toBe(before + 2);
    });

    it.each([
      ['longer than 255 characters', 'k'.repeat(256)],
      ['not printable ASCII', 'clé-1'],
    ])('refuses a key %s with 400', async (_why, badKey) => {
      const res = await call(app, {
        method: 'POST',
        url: '/v1/platform/__fixtures/echo',
        headers: { 'idempotency-key': badKey },
        payload: { name: 'a' },
      });
      expectProblem(res, 400, 'bad-request');
    });

    it('treats an expired key, or one abandoned in flight, as unused', async () => {
      const db = app.get(DataSource);
      const expired = key();
      const abandoned = key();
      // Keys are kept per principal (principalKey): these calls come from the platform caller `conventions`.
      await db.query(
        `INSERT INTO idempotency_keys (principal, idempotency_key, request_hash, state, response_status, response_body, response_content_type, created_at, expires_at)
         VALUES ('platform:conventions', ?, REPEAT('0', 64), 'COMPLETED', 201, '{}', 'application/json', NOW(3) - INTERVAL 25 HOUR, NOW(3) - INTERVAL 1 HOUR),
                ('platform:conventions', ?, REPEAT('0', 64), 'IN_FLIGHT', NULL, NULL, NULL, NOW(3) - INTERVAL 11 MINUTE, NOW(3) + INTERVAL 1 HOUR)`,
        [expired, abandoned],
      );
      for (const k of [expired, abandoned]) {
        const res = await call(app, {
          method: 'POST',
          url: '/v1/platform/__fixtures/echo',
          headers: { 'idempotency-key': k },
          payload: { name: 'fresh' },
        });
        expect(res.statusCode).toBe(201);
        expect(res.json()).toMatchObject({ name: 'fresh' });
      }
    });

    it('purges expired keys and keeps live ones (maintenance/idempotency-keys.purge)', async () => {
      const db = app.get(DataSource);
      const old = key();
      const live = key();
      await db.query(
        `INSERT INTO idempotency_keys (principal, idempotency_key, request_hash, state, expires_at)
         VALUES ('partner:PURGE', ?, REPEAT('0', 64), 'COMPLETED', NOW(3) - INTERVAL 1 SECOND),
                ('partner:PURGE', ?, REPEAT('0', 64), 'COMPLETED', NOW(3) + INTERVAL 1 HOUR)`,
        [old, live],
      );
      const result = await app.get(IdempotencyPurge).purge();
      expect(result.deleted).toBeGreaterThanOrEqual(1);
      const rows = await db.query(`SELECT idempotency_key FROM idempotency_keys WHERE principal = 'partner:PURGE'`);
      expect(rows.map((r: { idempotency_key: string }) => r.idempotency_key)).toEqual([live]);
    });

    it('runs every request without a key', async () => {
      const before = calls().echo ?? 0;
      await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: { name: 'n' } });
      await call(app, { method: 'POST', url: '/v1/platform/__fixtures/echo', payload: { name: 'n' } });
      expect(calls().echo).toBe(before + 2);
    });
  });

  describe('cursor pagination', () => {
    it('walks every item in creation order, page by page', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/v1/platform/__fixtures/items?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const res = await call(app, { method: 'GET', url });
        expect(res.statusCode).toBe(200);
        const body = res.json();
        seen.push(...body.data.map((item: { id: string }) => item.id));
        cursor = body.nextCursor;
        pages++;
      } while (cursor);
      expect(seen).toEqual(['1', '2', '3', '4', '5', '6', '7']);
      expect(pages).toBe(3);
    });

    it('defaults to 100 items and answers nextCursor null on the last page', async () => {
      const res = await call(app, { method: 'GET', url: '/v1/platform/__fixtures/items' });
      expect(res.json()).toMatchObject({ nextCursor: null });
      expect(res.json().data).toHaveLength(7);
    });

    it.each(['0', '501', 'abc', '2.5', '-1'])('answers limit=%s with 400', async (limit) => {
      const res = await call(app, { method: 'GET', url: `/v1/platform/__fixtures/items?limit=${limit}` });
      expect(expectProblem(res, 400, 'validation-failed').errors[0].field).toBe('limit');
    });

    it('answers a cursor it did not issue with 400', async () => {
      const forged = Buffer.from(JSON.stringify({ v: 1, after: '1 OR 1=1' })).toString('base64url');
      for (const cursor of ['not-a-cursor', forged]) {
        const res = await call(app, { method: 'GET', url: `/v1/platform/__fixtures/items?cursor=${cursor}` });
        expectProblem(res, 400, 'bad-request');
      }
    });

    it('rejects unknown query parameters', async () => {
      const res = await call(app, { method: 'GET', url: '/v1/platform/__fixtures/items?limit=2&sort=desc' });
      expect(expectProblem(res, 400, 'validation-failed').errors).toEqual([{ field: 'sort', message: 'is not an accepted field' }]);
    });
  });
});

describe('rate limiting', () => {
  const LIMIT = '3';
  let a: NestFastifyApplication;
  let b: NestFastifyApplication;

  beforeAll(async () => {
    // Two api instances on the same Redis, as two copies of the api role would run.
    a = await startConventionsApp({ RATE_LIMIT: LIMIT, RATE_LIMIT_WINDOW_SECONDS: '60' });
    b = await startConventionsApp({ RATE_LIMIT: LIMIT, RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const whoami = (app: NestFastifyApplication, principal: string) =>
    call(app, { method: 'GET', url: '/v1/platform/__fixtures/whoami', headers: { 'x-test-principal': principal } });

  it('answers 429 problem+json with retry-after once the limit is used', async () => {
    const principal = `BANK_${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 3; i++) {
      const ok = await whoami(a, principal);
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['x-ratelimit-limit']).toBe(LIMIT);
      expect(ok.headers['x-ratelimit-remaining']).toBe(String(2 - i));
    }
    const res = await whoami(a, principal);
    expectProblem(res, 429, 'rate-limited');
    const retryAfter = Number(res.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('shares one budget between instances', async () => {
    const principal = `BANK_${randomUUID().slice(0, 8)}`;
    expect((await whoami(a, principal)).statusCode).toBe(200);
    expect((await whoami(b, principal)).statusCode).toBe(200);
    expect((await whoami(a, principal)).statusCode).toBe(200);
    expectProblem(await whoami(b, principal), 429, 'rate-limited');
    expectProblem(await whoami(a, principal), 429, 'rate-limited');
  });

  it('counts each principal on its own, across routes', async () => {
    const busy = `BANK_${randomUUID().slice(0, 8)}`;
    const calm = `BANK_${randomUUID().slice(0, 8)}`;
    expect((await whoami(a, busy)).statusCode).toBe(200);
    expect((await call(a, { method: 'GET', url: '/v1/platform/__fixtures/items', headers: { 'x-test-principal': busy } })).statusCode).toBe(
      200,
    );
    expect((await whoami(a, busy)).statusCode).toBe(200);
    expect((await call(a, { method: 'GET', url: '/v1/platform/__fixtures/items', headers: { 'x-test-principal': busy } })).statusCode).toBe(
      429,
    );
    const res = await whoami(a, calm);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ principal: { type: 'platform', id: calm, roles: ['platform'] } });
  });
});
