import { randomBytes } from 'node:crypto';

import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { AppConfig } from '../../src/infra/config/app-config';
import { loadConfig } from '../../src/infra/config/load-config';
import { configurePublicIdsWith } from '../../src/infra/crypto/crypto.service';
import { dataSourceOptions } from '../../src/infra/database/data-source-options';

export const MYSQL_SERVER_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_SERVER_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** One bench run's own database and Redis prefix, and the environment every gateway process of the run gets. */
export interface BenchEnvironment {
  runId: string;
  database: string;
  /** Environment variables for the gateway (in-process and child processes alike). */
  env: Record<string, string>;
  config: AppConfig;
}

export async function createBenchEnvironment(): Promise<BenchEnvironment> {
  const runId = `${Date.now()}`;
  const database = `bench_${runId}`;
  const env: Record<string, string> = {
    // test: development-only HS256 platform tokens allowed; the rate limit is lifted below. Errors only in the logs:
    // a gateway process that fails during a run must say why.
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    DATABASE_URL: `${MYSQL_SERVER_URL}/${database}`,
    REDIS_URL: REDIS_SERVER_URL,
    REDIS_PREFIX: `{rgb-${runId}}`,
    PUBLIC_BASE_URL: 'http://gateway.bench',
    MASTER_KEY: randomBytes(32).toString('base64'),
    PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url'),
    PLATFORM_JWT_ISSUER: 'https://id.platform.bench',
    PLATFORM_JWT_AUDIENCE: 'referral-gateway',
    // The bench mints two-hour platform tokens for its longest runs; the default cap is one hour.
    PLATFORM_JWT_MAX_LIFETIME_SECONDS: '7200',
    // /metrics answers the scraper's token only; waitForApiCluster reads it.
    METRICS_TOKEN: randomBytes(32).toString('base64url'),
    RATE_LIMIT: '1000000000',
    RATE_LIMIT_WINDOW_SECONDS: '60',
  };
  const server = await mysql.createConnection({ uri: MYSQL_SERVER_URL, connectTimeout: 3000 });
  await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await server.end();
  const config = loadConfig({ ...process.env, ...env });
  // The seeding paths make public ids in this process, under the key the gateway processes use.
  configurePublicIdsWith(config.masterKey);
  const dataSource = new DataSource(dataSourceOptions(config));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
  return { runId, database, env, config };
}

/** Drops the run's database and Redis keys (KEEP_BENCH_STATE keeps them for a post-mortem). */
export async function dropBenchEnvironment(bench: BenchEnvironment): Promise<void> {
  if (process.env.KEEP_BENCH_STATE) return;
  const server = await mysql.createConnection({ uri: MYSQL_SERVER_URL });
  await server.query(`DROP DATABASE IF EXISTS \`${bench.database}\``);
  await server.end();
  const redis = new Redis(REDIS_SERVER_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${bench.env.REDIS_PREFIX}*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

/** A mysql2 pool on the run's database (the bench's own client, for raw figures and checks). */
export function benchPool(bench: BenchEnvironment, connectionLimit = 4): mysql.Pool {
  return mysql.createPool({ uri: bench.env.DATABASE_URL, connectionLimit, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' });
}
