import { randomInt, randomUUID } from 'node:crypto';

import { Controller, Get, Module } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyInstance } from 'fastify';
import { DataSource } from 'typeorm';

import { AppModule } from '../../src/app.module';
import { createHttpApp } from '../../src/infra/http/http-app.factory';
import { PUBLIC_ROUTES, ROUTE_GROUPS, routeAccessOfTemplate } from '../../src/modules/auth/auth-context';
import { PlatformRoles } from '../../src/modules/auth/platform-roles.guard';
import { testConfig } from '../support/app';
import { BankClient, platformToken, uniqueCode } from '../support/partner-client';
import { RawAnswer, rawRequest } from '../support/raw-http';

/**
 * The route-group gate decides from the route the router matched, never from the raw request target: whatever way a
 * target is spelled (percent-encoded letters or slashes, double slashes, dot segments, trailing dots, case, absolute
 * form), a request that reaches a handler of a group went through that group's gate, and a partner call is audited.
 * Every request goes over a real socket, so the target reaches the server byte for byte.
 */
@Controller()
class OpenProbeController {
  // No guard decorators: only the route-group gate stands in front of these.
  @Get('partner/v1/probe-open')
  partner() {
    return { reached: 'partner' };
  }

  @Get('v1/admin/probe-open')
  admin() {
    return { reached: 'admin' };
  }

  @Get('v1/compliance/probe-open')
  compliance() {
    return { reached: 'compliance' };
  }

  @Get('v1/me/probe-open')
  me() {
    return { reached: 'me' };
  }

  @Get('v1/platform/probe-open')
  platform() {
    return { reached: 'platform' };
  }

  // Outside every route group and not listed as public: closed to everyone, a guard decorator notwithstanding.
  @Get('probe-unlisted')
  unlisted() {
    return { reached: 'unlisted' };
  }

  @Get('probe-unlisted/compliance')
  @PlatformRoles('compliance')
  unlistedCompliance() {
    return { reached: 'unlisted' };
  }
}

@Module({ controllers: [OpenProbeController] })
class OpenProbeModule {}

const hex = (c: string) => c.charCodeAt(0).toString(16);

/** Every spelling of `path` we know a router, proxy or gate might read differently. */
function spellings(path: string): string[] {
  const segments = path.split('/').slice(1);
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const out = new Set<string>();
  segments.forEach((segment, i) => {
    const at = (replacement: string) => join(segments.map((s, j) => (j === i ? replacement : s)));
    out.add(at(`%${hex(segment[0])}${segment.slice(1)}`));
    out.add(at(`%${hex(segment[0]).toUpperCase()}${segment.slice(1)}`));
    out.add(at(`${segment}.`));
    out.add(at(`${segment}..`));
    out.add(at(segment.toUpperCase()));
    out.add(at(`${segment[0].toUpperCase()}${segment.slice(1)}`));
    out.add(at(`${segment};x=1`));
    out.add(at(`${segment}%00`));
    if (i > 0) {
      const before = join(segments.slice(0, i));
      const after = segments.slice(i).join('/');
      out.add(`${before}%2F${after}`);
      out.add(`${before}%2f${after}`);
      out.add(`${before}//${after}`);
      out.add(`${before}/./${after}`);
      out.add(`${before}/x/../${after}`);
      out.add(`${before}/%2e/${after}`);
      out.add(`${before}/x/%2E%2E/${after}`);
      out.add(`${before}\\${after}`);
    }
  });
  const encodedAll = join(segments.map((s) => [...s].map((c) => `%${hex(c)}`).join('')));
  for (const variant of [path, encodedAll, `/${path}`, `${path}/`, `${path}//`, `${path}?x=1`, `${path}#x`, `/./${path.slice(1)}`])
    out.add(variant);
  for (const variant of [...out]) {
    out.add(`http://gateway.test${variant}`);
    out.add(`HTTPS://gateway.test:443${variant}`);
  }
  out.add(`//gateway.test${path}`);
  return [...out];
}

const GROUPS: { name: string; path: string }[] = [
  { name: 'partner', path: '/partner/v1/probe-open' },
  { name: 'partner (real route)', path: '/partner/v1/referrals' },
  { name: 'admin', path: '/v1/admin/probe-open' },
  { name: 'admin (real route)', path: '/v1/admin/partners' },
  { name: 'compliance', path: '/v1/compliance/probe-open' },
  { name: 'me', path: '/v1/me/probe-open' },
  { name: 'platform', path: '/v1/platform/probe-open' },
  { name: 'Bull Board', path: '/admin/queues/api/queues' },
  { name: 'Bull Board page', path: '/admin/queues' },
];

/**
 * A refusal is 400 (absolute form), 401/403 (the gate) or 404 (no such route); anything else, or a body of the handlers
 * behind the gate (the probes, Bull Board's queue list or page, the partner list), means the gate was passed.
 */
const passedGate = (answer: RawAnswer, refusals: number[]) =>
  !refusals.includes(answer.status) || /"reached"|"queues"|<html|"data"/i.test(answer.body);

describe('route-group gate against every spelling of a path (real socket)', () => {
  let app: NestFastifyApplication;
  let port: number;
  let bank: BankClient;
  // Hundreds of anonymous refusals: from an address of this spec's own, with an anonymous budget that does not mask
  // the gate's answers with 429s (the anonymous limit has a spec of its own).
  const localAddress = `127.0.0.${2 + randomInt(250)}`;
  const send = (target: string, options: Parameters<typeof rawRequest>[2] = {}) => rawRequest(port, target, { ...options, localAddress });

  beforeAll(async () => {
    const config = testConfig({ BULL_BOARD: 'true', ANONYMOUS_RATE_LIMIT: '100000' });
    const root = AppModule.forRole('api', config);
    app = await createHttpApp({ ...root, imports: [...(root.imports ?? []), OpenProbeModule] }, config);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.getHttpServer().address() as { port: number }).port;
    bank = new BankClient(uniqueCode('GATE'));
    await bank.register(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it.each(GROUPS)('lets no anonymous request reach a handler of $name, however the target is spelled', async ({ path }) => {
    const reached: string[] = [];
    for (const target of spellings(path)) {
      const answer = await send(target);
      if (passedGate(answer, [400, 401, 404])) reached.push(`${target} -> ${answer.status}`);
    }
    expect(reached).toEqual([]);
  });

  it.each(GROUPS.filter((g) => !g.name.startsWith('partner')))(
    'lets no partner access token reach a handler of $name, however the target is spelled',
    async ({ path }) => {
      const token = await bank.accessToken(app);
      const reached: string[] = [];
      for (const target of spellings(path)) {
        const answer = await send(target, { headers: { authorization: `Bearer ${token}` } });
        if (passedGate(answer, [400, 403, 404])) reached.push(`${target} -> ${answer.status}`);
      }
      expect(reached).toEqual([]);
    },
  );

  it('audits every partner call, however the target is spelled (GET /partner/v1/referr%61ls included)', async () => {
    const token = await bank.accessToken(app);
    const db = app.get(DataSource);
    const unaudited: string[] = [];
    for (const target of spellings('/partner/v1/referrals')) {
      const requestId = `spelling-${randomUUID()}`;
      const answer = await send(target, { headers: { authorization: `Bearer ${token}`, 'x-request-id': requestId } });
      if (answer.headers['x-request-id'] !== requestId) continue; // refused by Node's HTTP parser: no request at all
      // Absolute form is refused before authentication: an anonymous failure, counted in an aggregated entry instead.
      if (answer.status === 400 && !target.startsWith('/')) continue;
      const rows = await db.query(
        `SELECT http_status FROM audit_inbox WHERE request_id = ? AND action = 'partner_api.call'
         UNION ALL SELECT http_status FROM audit_events WHERE request_id = ? AND action = 'partner_api.call'`,
        [requestId, requestId],
      );
      if (rows.length !== 1 || rows[0].http_status !== answer.status)
        unaudited.push(`${target} -> ${answer.status}: ${JSON.stringify(rows)}`);
    }
    expect(unaudited).toEqual([]);
  });

  it('refuses an absolute-form request target with 400 problem+json, before authentication', async () => {
    const admin = platformToken(['admin']);
    for (const target of ['http://gateway.test/v1/admin/partners', 'https://gateway.test/health/live', 'http://x/partner/v1/me']) {
      const answer = await send(target, { headers: { authorization: `Bearer ${admin}` } });
      expect({ target, status: answer.status }).toEqual({ target, status: 400 });
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(answer.body)).toMatchObject({
        type: 'https://errors.referral-gateway.dev/bad-request',
        status: 400,
        instance: answer.headers['x-request-id'],
      });
    }
  });

  it('opens a group to its own principal under its canonical path', async () => {
    const cases: [string, string][] = [
      ['/v1/admin/probe-open', platformToken(['admin'])],
      ['/v1/compliance/probe-open', platformToken(['compliance'])],
      ['/v1/me/probe-open', platformToken(['user'])],
      ['/v1/platform/probe-open', platformToken(['platform'])],
      ['/partner/v1/probe-open', await bank.accessToken(app)],
    ];
    for (const [path, token] of cases) {
      const answer = await send(path, { headers: { authorization: `Bearer ${token}` } });
      expect({ path, status: answer.status }).toEqual({ path, status: 200 });
    }
    const board = await send('/admin/queues/api/queues', { headers: { authorization: `Bearer ${platformToken(['admin'])}` } });
    expect(board.status).toBe(200);
  });

  it('closes a route outside every group and the public list to everyone, whatever its decorators say (deny by default)', async () => {
    const tokens = [
      undefined,
      platformToken(['admin']),
      platformToken(['compliance']),
      platformToken(['admin', 'compliance', 'platform', 'user']),
    ];
    for (const path of ['/probe-unlisted', '/probe-unlisted/compliance']) {
      for (const token of tokens) {
        const answer = await send(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
        expect({ path, status: answer.status }).toEqual({ path, status: 404 });
        expect(answer.body).not.toContain('reached');
      }
    }
  });

  it('keeps the public routes open without a credential', async () => {
    for (const path of ['/health/live', '/health/ready', '/.well-known/jwks.json', '/docs', '/docs-json']) {
      const answer = await send(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 200 });
    }
    // The token endpoint's own answer (RFC 6749 JSON), not the gate's.
    const token = await send('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(401);
    expect(JSON.parse(token.body)).toMatchObject({ error: 'invalid_client' });
    // /metrics checks its own credential (METRICS_TOKEN); the gate leaves it to that check.
    expect(routeAccessOfTemplate('/metrics')).toBe('public');
    expect([200, 401]).toContain((await send('/metrics')).status);
  });

  it('classifies every route the api role serves: each is in a route group or listed as public', async () => {
    const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
    const templates = routeTemplates(fastify.printRoutes({ commonPrefix: false }));
    expect(templates).toEqual(
      expect.arrayContaining(['/partner/v1/referrals/:id', '/admin/queues/api/queues', '/docs-json', '/oauth/token']),
    );
    const unclassified = templates.filter((t) => !t.includes('probe') && routeAccessOfTemplate(t) === undefined);
    expect(unclassified).toEqual([]);
    // And the tables themselves do not overlap.
    for (const open of PUBLIC_ROUTES) expect(ROUTE_GROUPS.some((g) => open.startsWith(g.prefix))).toBe(false);
  });
});

/** The full templates of a printRoutes({ commonPrefix: false }) tree. */
function routeTemplates(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)(?:[├└]── )(\S+)/.exec(line.replace(/\u00a0/g, ' '));
    if (!match) continue;
    const depth = match[1].length / 4;
    stack.length = depth;
    stack.push(match[2]);
    if (/\(/.test(line)) out.push(stack.join(''));
  }
  return out;
}
