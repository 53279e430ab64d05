import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';

import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import * as jwt from 'jsonwebtoken';

import { MetricsService } from '../../src/infra/metrics/metrics.service';
import { startHttpApp, startWorker, testConfig } from '../support/app';
import { BankClient, inject, platformToken, uniqueCode } from '../support/partner-client';

/**
 * /metrics names partners and products (referral_sla_breaches_total{partner,product}) and the shape of the traffic,
 * so it answers only a Prometheus scraper presenting METRICS_TOKEN or an operator's platform token (API.md, Operations).
 */
const METRICS_TOKEN = randomBytes(32).toString('base64url');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('GET /metrics on the api port', () => {
  let app: NestFastifyApplication;
  let bank: BankClient;
  const scrape = (headers: Record<string, string> = {}) => inject(app, { method: 'GET', url: '/metrics', headers });

  beforeAll(async () => {
    app = await startHttpApp('api', { METRICS_TOKEN });
    bank = new BankClient(uniqueCode('METRICS'));
    await bank.register(app);
    // A series naming a partner and a product, as the SLA scan records them.
    app.get(MetricsService).referralSlaBreaches.inc({ partner: bank.code, product: 'SECRET-CARD' });
  });

  afterAll(() => app.close());

  const refusals: Array<[string, () => Record<string, string> | Promise<Record<string, string>>]> = [
    ['no credential', () => ({})],
    ['a wrong token', () => bearer(randomBytes(32).toString('base64url'))],
    ['METRICS_TOKEN with one character changed', () => bearer(`${METRICS_TOKEN.slice(0, -1)}${METRICS_TOKEN.endsWith('A') ? 'B' : 'A'}`)],
    ['METRICS_TOKEN as a prefix', () => bearer(METRICS_TOKEN.slice(0, 16))],
    ['METRICS_TOKEN without the Bearer scheme', () => ({ authorization: METRICS_TOKEN })],
    ['METRICS_TOKEN as Basic credentials', () => ({ authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` })],
    ['a user platform token', () => bearer(platformToken(['user']))],
    ['a platform service token', () => bearer(platformToken(['platform']))],
    ['a compliance officer token', () => bearer(platformToken(['compliance']))],
    ['a partner access token', async () => bearer(await bank.accessToken(app))],
    [
      'an expired admin token',
      () => {
        const { secret, issuer, audience } = testConfig().platformJwt;
        const iat = Math.floor(Date.now() / 1000) - 600;
        return bearer(jwt.sign({ roles: ['admin'], iat, exp: iat + 60 }, secret!, { algorithm: 'HS256', issuer, audience, subject: 'op' }));
      },
    ],
  ];

  it.each(refusals)('answers 401 problem+json to %s, without a single metric', async (_name, headers) => {
    const res = await scrape(await headers());
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="referral-gateway"/);
    expect(res.json()).toMatchObject({
      type: 'https://errors.referral-gateway.dev/unauthorized',
      status: 401,
      instance: res.headers['x-request-id'],
    });
    expect(res.body).not.toContain(bank.code);
    expect(res.body).not.toContain('referral_sla_breaches_total');
  });

  it('answers the scraper presenting METRICS_TOKEN', async () => {
    const res = await scrape(bearer(METRICS_TOKEN));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain(`referral_sla_breaches_total{partner="${bank.code}",product="SECRET-CARD"} 1`);
  });

  it('answers an operator with an admin platform token (also when the token holds other roles)', async () => {
    expect((await scrape(bearer(platformToken(['admin'])))).statusCode).toBe(200);
    expect((await scrape(bearer(platformToken(['user', 'admin'])))).statusCode).toBe(200);
  });

  it('without METRICS_TOKEN configured (development, test) answers operators only', async () => {
    const open = await startHttpApp('api', { METRICS_TOKEN: '' });
    try {
      const get = (headers: Record<string, string>) => inject(open, { method: 'GET', url: '/metrics', headers });
      expect((await get({})).statusCode).toBe(401);
      expect((await get(bearer(METRICS_TOKEN))).statusCode).toBe(401);
      expect((await get(bearer(''))).statusCode).toBe(401);
      expect((await get(bearer(platformToken(['admin'])))).statusCode).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe("the worker's own metrics server (WORKER_METRICS_PORT)", () => {
  let worker: INestApplicationContext;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    worker = await startWorker({ WORKER_METRICS_PORT: String(port), METRICS_TOKEN });
    worker.get(MetricsService).referralSlaBreaches.inc({ partner: 'WORKER_BANK', product: 'SECRET-CARD' });
  });

  afterAll(() => worker.close());

  it.each([
    ['no credential', {}],
    ['a wrong token', bearer(randomBytes(32).toString('base64url'))],
    ['METRICS_TOKEN as a prefix', bearer(METRICS_TOKEN.slice(0, 16))],
    ['METRICS_TOKEN without the Bearer scheme', { authorization: METRICS_TOKEN }],
  ])('answers 401 problem+json to %s', async (_name, headers: Record<string, string>) => {
    const res = await fetch(url, { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="referral-gateway"/);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ type: 'https://errors.referral-gateway.dev/unauthorized', status: 401 });
    expect(body).not.toContain('WORKER_BANK');
  });

  it('answers the scraper presenting METRICS_TOKEN', async () => {
    const res = await fetch(url, { headers: bearer(METRICS_TOKEN) });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('referral_sla_breaches_total{partner="WORKER_BANK",product="SECRET-CARD"} 1');
  });
});

describe('METRICS_TOKEN configuration', () => {
  const production = () => ({
    NODE_ENV: 'production',
    PLATFORM_JWT_SECRET: '',
    PLATFORM_JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'pem', type: 'spki' })
      .toString(),
  });

  it('is required in production, naming the variable', () => {
    expect(() => testConfig({ ...production(), METRICS_TOKEN: '' })).toThrow(
      /METRICS_TOKEN \(ops\.metricsToken\): is required in production/,
    );
    expect(testConfig({ ...production(), METRICS_TOKEN }).ops.metricsToken).toBe(METRICS_TOKEN);
  });

  it('must be long enough to be a secret', () => {
    expect(() => testConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN \(ops\.metricsToken\)/);
  });
});
