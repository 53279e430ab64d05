import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyInstance } from 'fastify';
import { DataSource } from 'typeorm';

import { ConfigurationError, loadConfig } from '../../src/infra/config/load-config';
import { startHttpApp } from '../support/app';

/**
 * The client address (audit `clientIp`, per-address rate limits) comes from X-Forwarded-For only when the request
 * arrives from a configured proxy (TRUST_PROXY). By default nothing is trusted, in every environment: a client must
 * not choose its own address.
 */
const PROXY = '10.20.30.40';
const OUTSIDER = '198.51.100.23';

let nextForwarded = randomBytes(1)[0];
/** A forwarded client address not used before in this run of the spec. */
const forwarded = () => `203.0.113.${1 + (nextForwarded++ % 250)}`;

const fromAddress = (app: NestFastifyApplication, remoteAddress: string, url: string, headers: Record<string, string> = {}) =>
  (app.getHttpAdapter().getInstance() as FastifyInstance).inject({ method: 'GET', url, headers, remoteAddress });

/** The audited client address of a partner call, found by its request id. */
async function auditedClientIp(app: NestFastifyApplication, requestId: string): Promise<string[]> {
  const rows: { client_ip: string }[] = await app
    .get(DataSource)
    .query('SELECT client_ip FROM audit_inbox WHERE request_id = ? UNION ALL SELECT client_ip FROM audit_events WHERE request_id = ?', [
      requestId,
      requestId,
    ]);
  return rows.map((r) => r.client_ip);
}

/** An anonymous partner call (401, audited) from `remoteAddress` claiming to forward for `forwardedFor`. */
async function auditedAddressOf(app: NestFastifyApplication, remoteAddress: string, forwardedFor: string): Promise<string[]> {
  const requestId = `xff-${randomUUID()}`;
  const res = await fromAddress(app, remoteAddress, '/partner/v1/me', { 'x-request-id': requestId, 'x-forwarded-for': forwardedFor });
  expect(res.statusCode).toBe(401);
  return auditedClientIp(app, requestId);
}

/**
 * Statuses of `n` public calls (the JWKS, limited per address by the principal limiter) from one socket address, each
 * claiming another forwarded address.
 */
async function statusesWithRotatingXff(app: NestFastifyApplication, remoteAddress: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const forged = `203.0.113.${1 + (randomBytes(1)[0] % 250)}`;
    statuses.push((await fromAddress(app, remoteAddress, '/.well-known/jwks.json', { 'x-forwarded-for': forged })).statusCode);
  }
  return statuses;
}

describe('client address and TRUST_PROXY', () => {
  describe('by default (no proxy trusted)', () => {
    let app: NestFastifyApplication;
    beforeAll(async () => {
      app = await startHttpApp('api', { RATE_LIMIT: '3' });
    });
    afterAll(async () => {
      await app?.close();
    });

    it('audits the socket address, not X-Forwarded-For', async () => {
      const outsider = `198.51.100.${10 + (randomBytes(1)[0] % 200)}`;
      expect(await auditedAddressOf(app, outsider, '203.0.113.7')).toEqual([outsider]);
    });

    it('keeps one rate-limit bucket per socket address whatever X-Forwarded-For says', async () => {
      const outsider = `198.51.100.${10 + (randomBytes(1)[0] % 200)}`;
      expect(await statusesWithRotatingXff(app, outsider, 4)).toEqual([200, 200, 200, 429]);
    });
  });

  describe(`with TRUST_PROXY=${PROXY}`, () => {
    let app: NestFastifyApplication;
    beforeAll(async () => {
      app = await startHttpApp('api', { RATE_LIMIT: '3', TRUST_PROXY: `${PROXY}, 10.99.0.0/16` });
    });
    afterAll(async () => {
      await app?.close();
    });

    it('takes the forwarded address only from the proxy', async () => {
      // A fresh forwarded address each time: only an address's first anonymous failure in a window has its own entry.
      let client = forwarded();
      expect(await auditedAddressOf(app, PROXY, client)).toEqual([client]);
      client = forwarded();
      expect(await auditedAddressOf(app, '10.99.1.2', client)).toEqual([client]);
      expect(await auditedAddressOf(app, OUTSIDER, forwarded())).toEqual([OUTSIDER]);
    });

    it('gives forwarded clients their own buckets behind the proxy, and none to an outsider rotating X-Forwarded-For', async () => {
      expect(await statusesWithRotatingXff(app, PROXY, 4)).toEqual([200, 200, 200, 200]);
      expect(await statusesWithRotatingXff(app, OUTSIDER, 4)).toEqual([200, 200, 200, 429]);
    });
  });
});

describe('with TRUST_PROXY=1 (one proxy hop, whatever its address)', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    app = await startHttpApp('api', { TRUST_PROXY: '1' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('takes the address the nearest hop saw, not what the client wrote before it', async () => {
    expect(await auditedAddressOf(app, PROXY, '192.0.2.1, 203.0.113.50')).toEqual(['203.0.113.50']);
  });
});

describe('TRUST_PROXY configuration', () => {
  const env = (trustProxy?: string): NodeJS.ProcessEnv => ({
    NODE_ENV: 'test',
    DATABASE_URL: 'mysql://root@127.0.0.1:3306/rg_config_spec',
    REDIS_URL: 'redis://127.0.0.1:6379/0',
    MASTER_KEY: randomBytes(32).toString('base64'),
    PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url'),
    ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }),
  });
  const problemsOf = (trustProxy: string) => {
    try {
      loadConfig(env(trustProxy));
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigurationError);
      return (error as ConfigurationError).message;
    }
    throw new Error(`TRUST_PROXY=${trustProxy} was accepted`);
  };

  it('defaults to trusting nobody, in every environment', () => {
    const dir = join(__dirname, '..', '..', 'config');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files).toEqual(expect.arrayContaining(['default.json', 'development.json', 'production.json', 'test.json']));
    for (const file of files) {
      const trustProxy = JSON.parse(readFileSync(join(dir, file), 'utf8')).http?.trustProxy;
      expect({ file, trustProxy }).toEqual({ file, trustProxy: file === 'default.json' ? false : undefined });
    }
    expect(loadConfig(env()).http.trustProxy).toBe(false);
  });

  it.each([
    ['false', false],
    ['0', false],
    ['2', 2],
    ['10.0.0.1', ['10.0.0.1']],
    [' 10.0.0.0/8 , 192.168.1.1,fd00::/8 ', ['10.0.0.0/8', '192.168.1.1', 'fd00::/8']],
    ['loopback', ['loopback']],
  ])('accepts TRUST_PROXY=%j', (value, expected) => {
    expect(loadConfig(env(value)).http.trustProxy).toEqual(expected);
  });

  it.each(['true', '1.5', '-1', 'proxy.example', '10.0.0.0/33', '10.0.0.1,', 'fd00::/129', '300.1.1.1'])(
    'refuses TRUST_PROXY=%j',
    (value) => {
      expect(problemsOf(value)).toContain('TRUST_PROXY');
    },
  );
});
