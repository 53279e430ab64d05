import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

import { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { runDemo } from '../../src/demo/demo';
import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { QUEUE_NAMES } from '../../src/infra/queues/job-catalogue';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { mintDevelopmentPlatformToken } from '../../src/modules/auth/platform-token.dev';
import { dataSourceOf, eventually, startHttpApp, testConfig } from '../support/app';
import { inject } from '../support/partner-client';

const get = (app: NestFastifyApplication, url: string, headers: Record<string, string> = {}) =>
  app.getHttpAdapter().getInstance().inject({ method: 'GET', url, headers });
/** The Prometheus scraper's credential (see metrics-access.spec.ts for who else may read /metrics). */
const scraper = () => ({ authorization: `Bearer ${process.env.METRICS_TOKEN}` });

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A Redis of this test's own, so stopping it cannot disturb anybody else's tests. */
async function startPrivateRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await eventually(async () => {
      if (probe.status !== 'ready') await probe.connect().catch(() => undefined);
      return (await probe.ping()) === 'PONG';
    });
  } finally {
    probe.disconnect();
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('health', () => {
  let api: NestFastifyApplication;
  afterAll(() => api?.close());

  it('answers /health/live with 200', async () => {
    api = await startHttpApp('api');
    const res = await get(api, '/health/live');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'up' });
    expect(res.headers['cache-control']).toBe('no-store');
  });
});

describe('readiness when Redis stops', () => {
  let redis: ChildProcess | undefined;
  let api: NestFastifyApplication | undefined;
  let port: number;

  afterAll(async () => {
    // Closing while BullMQ's connections are still reconnecting leaves a reconnect timer behind, so Redis comes back first.
    if (redis && (redis.exitCode !== null || redis.signalCode !== null)) redis = await startPrivateRedis(port);
    await api?.close();
    if (redis) await stop(redis);
  });

  it('is 200 with MySQL and Redis up, 503 naming Redis once it is gone, and 200 again when it is back', async () => {
    port = await freePort();
    redis = await startPrivateRedis(port);
    api = await startHttpApp('api', { REDIS_URL: `redis://127.0.0.1:${port}/0` });

    const up = await get(api, '/health/ready');
    expect(up.statusCode).toBe(200);
    expect(up.json()).toEqual({ status: 'up', checks: { mysql: 'up', redis: 'up' } });

    await stop(redis);
    const down = await get(api, '/health/ready');
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    expect(down.headers['cache-control']).toBe('no-store');
    const body = down.json();
    expect(body).toMatchObject({
      type: 'https://errors.referral-gateway.dev/not-ready',
      status: 503,
      checks: { mysql: 'up', redis: 'down' },
      instance: down.headers['x-request-id'],
    });
    expect(body.detail).toContain('redis');
    // No driver messages, hosts or ports reach the client.
    expect(down.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|Connection is closed|timeout|stack/i);
    expect(down.body).not.toContain(String(port));

    redis = await startPrivateRedis(port);
    await eventually(async () => (await get(api!, '/health/ready')).statusCode === 200);
    // The queues' own connections reconnect on their own schedule; wait for them too before the app closes.
    await Promise.all(
      api
        .get(JobQueues)
        .all()
        .map((queue) => queue.getJobCounts()),
    );
  });
});

describe('metrics', () => {
  let api: NestFastifyApplication;
  afterAll(() => api?.close());

  beforeAll(async () => {
    api = await startHttpApp('api');
  });

  const sample = (text: string, series: string): number | undefined => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('records HTTP latency per route pattern, not per raw URL', async () => {
    await get(api, '/health/live');
    await get(api, '/no-such-thing/12345');
    await get(api, '/docs/swagger-ui.css');
    const res = await get(api, '/metrics', scraper());
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(sample(res.body, 'http_request_duration_seconds_count{method="GET",route="/health/live",status="200"}')).toBeGreaterThanOrEqual(
      1,
    );
    expect(sample(res.body, 'http_request_duration_seconds_count{method="GET",route="unmatched",status="404"}')).toBeGreaterThanOrEqual(1);
    expect(res.body).not.toContain('12345');
    expect(res.body).not.toContain('swagger-ui.css');
    expect(res.body).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/docs\/[^"]*\*[^"]*",status="200"\}/);
  });

  it('reports queue depth from Redis and outbox rows by status from MySQL at scrape time', async () => {
    const db = dataSourceOf(api);
    await db.query(
      `INSERT INTO outbox (queue, job_name, payload, status) VALUES ('maintenance', 'outbox.probe', '{}', 'FAILED'), ('maintenance', 'outbox.probe', '{}', 'FAILED')`,
    );
    const [{ n }] = await db.query(`SELECT COUNT(*) AS n FROM outbox WHERE status = 'FAILED'`);
    const text = (await get(api, '/metrics', scraper())).body;
    expect(sample(text, 'outbox_rows{status="FAILED"}')).toBe(Number(n));
    expect(Number(n)).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'outbox_rows{status="PENDING"}')).toEqual(expect.any(Number));
    expect(sample(text, 'queue_jobs{queue="maintenance",state="waiting"}')).toEqual(expect.any(Number));
    await db.query(`DELETE FROM outbox WHERE status = 'FAILED' AND payload = '{}'`);
  });
});

describe('OpenAPI', () => {
  let api: NestFastifyApplication;
  afterAll(() => api?.close());

  it('serves a valid OpenAPI 3 document at /docs-json and the UI at /docs', async () => {
    api = await startHttpApp('api');
    const res = await get(api, '/docs-json');
    expect(res.statusCode).toBe(200);
    const doc = JSON.parse(res.body);
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'Referral gateway', version: expect.any(String) });
    expect(doc.paths['/health/ready']).toHaveProperty('get');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });

    const ui = await get(api, '/docs');
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });
});

describe('Bull Board', () => {
  let api: NestFastifyApplication | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  it('lists every catalogue queue at /admin/queues when enabled, to operators only', async () => {
    api = await startHttpApp('api', { BULL_BOARD: 'true' });
    const config = testConfig();
    const operator = { authorization: `Bearer ${mintDevelopmentPlatformToken(config, { sub: 'op-1', roles: ['admin'] })}` };
    const user = { authorization: `Bearer ${mintDevelopmentPlatformToken(config, { sub: 'u-1', roles: ['user'] })}` };
    expect((await get(api, '/admin/queues')).statusCode).toBe(401);
    expect((await get(api, '/admin/queues/api/queues', user)).statusCode).toBe(403);
    const page = await get(api, '/admin/queues', operator);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const queues = await get(api, '/admin/queues/api/queues', operator);
    expect(queues.statusCode).toBe(200);
    expect(
      queues
        .json()
        .queues.map((q: { name: string }) => q.name)
        .sort(),
    ).toEqual([...QUEUE_NAMES].sort());
  });

  it('is absent when disabled', async () => {
    api = await startHttpApp('api', { BULL_BOARD: 'false' });
    const operator = { authorization: `Bearer ${mintDevelopmentPlatformToken(testConfig(), { sub: 'op-1', roles: ['admin'] })}` };
    expect((await get(api, '/admin/queues', operator)).statusCode).toBe(404);
    expect((await get(api, '/admin/queues/api/queues', operator)).statusCode).toBe(404);
  });
});

describe('npm run demo', () => {
  let api: NestFastifyApplication | undefined;
  let output: string[];
  beforeEach(() => {
    output = [];
    const capture = (...args: unknown[]) => void output.push(args.join(' '));
    jest.spyOn(console, 'log').mockImplementation(capture);
    jest.spyOn(console, 'error').mockImplementation(capture);
  });
  let dropDemoDatabase: (() => Promise<void>) | undefined;
  afterEach(async () => {
    jest.restoreAllMocks();
    await api?.close();
    api = undefined;
    await dropDemoDatabase?.();
    dropDemoDatabase = undefined;
  });

  // The demo walks the whole flow (pre-screen, packaging, events), so the gateway runs both roles. It runs on a database
  // and Redis prefix of its own, as on a fresh machine: its overdue story scans business dates that only move forward
  // per database, and the suite's scanning specs take theirs from the run's database in any order.
  it('walks its stages against a running gateway and exits 0', async () => {
    const database = `${new URL(process.env.DATABASE_URL!).pathname.slice(1)}_demo`;
    const databaseUrl = new URL(process.env.DATABASE_URL!);
    databaseUrl.pathname = `/${database}`;
    const server = await mysql.createConnection({ uri: process.env.DATABASE_URL! });
    await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    const migrations = new DataSource(dataSourceOptions({ databaseUrl: databaseUrl.toString() }));
    await migrations.initialize();
    await migrations.runMigrations({ transaction: 'each' });
    await migrations.destroy();
    dropDemoDatabase = async () => {
      await server.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await server.end();
    };
    // Its own Redis keys too: job ids come from its database's outbox ids, which restart at 1 (issue: job ids repeat).
    const redisPrefix = `${process.env.REDIS_PREFIX!.replace(/}$/, '')}-demo}`;
    api = await startHttpApp('all', { DATABASE_URL: databaseUrl.toString(), REDIS_PREFIX: redisPrefix });
    await api.listen({ port: 0, host: '127.0.0.1' });
    const { port } = api.getHttpServer().address() as { port: number };
    const code = await runDemo(`http://127.0.0.1:${port}`);
    const printed = output.join('\n');
    // On failure, the demo's own account of the stage that stopped it.
    expect({ code, printed }).toEqual({ code: 0, printed: expect.any(String) });
    if (code !== 0) throw new Error(printed);
    expect(printed).toContain('GET /health/ready -> 200 (mysql up, redis up)');
    expect(printed).toMatch(/decision APPROVED -> 200 APPROVED/);
    expect(printed).toMatch(/decision DECLINED -> 200 DECLINED/);
    // Overdue sharing: told first, then reported, updated and cured; the day's file verified; a delinquency excludes.
    expect(printed).toMatch(/is told first: GET \/v1\/me\/overdue-notices -> PENDING notice ntc_/);
    for (const status of ['NEW', 'UPDATED', 'CURED']) expect(printed).toMatch(new RegExp(`the bank sees ovd_\\S+ ${status}:`));
    expect(printed).toMatch(/part 1\/1 verified against the JWKS \(typ overdue-report\+jwt, .*\): 1 records \(CURED\)/);
    expect(printed).toContain('asked again: byte-identical files');
    expect(printed).toMatch(/POST \/partner\/v1\/delinquencies ref_\S+ dpd 45 -> 201 dlq_/);
    expect(printed).toMatch(/PARTNER_DELINQUENCY [1-9]\d* \(the first run of this demo: \d+/);
    // It ends with compliance: a timeline, a verify through the API and the console's address with an officer's token.
    expect(printed).toMatch(/GET \/v1\/compliance\/users\/\S+\/timeline -> 200, \d+ entries \(offer, consent\.granted/);
    expect(printed).toMatch(/GET \/v1\/compliance\/audit\/verify -> ok true, seq 1\.\.\d+/);
    const address = /Compliance console: (http:\/\/127\.0\.0\.1:\d+\/console)#token=([\w-]+\.[\w-]+\.[\w-]+)/.exec(printed);
    expect(address?.[1]).toBe(`http://127.0.0.1:${port}/console`);
    const verified = await inject(api, {
      method: 'GET',
      url: '/v1/compliance/audit/verify',
      headers: { authorization: `Bearer ${address![2]}` },
    });
    expect(verified.statusCode).toBe(200);
    expect(printed).toContain('Demo finished.');
  }, 180_000);

  it('explains how to start a gateway when none answers, and exits non-zero', async () => {
    const port = await freePort();
    expect(await runDemo(`http://127.0.0.1:${port}`)).toBe(1);
    expect(output.join('\n')).toContain(`no gateway answers at http://127.0.0.1:${port}`);
    expect(output.join('\n')).toContain('docker compose up --build');
  });
});
