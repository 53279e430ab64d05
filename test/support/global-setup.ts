import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { MYSQL_SERVER_URL, newRunEnvironment, REDIS_SERVER_URL } from './test-env';

const HOW_TO_START = `
Start them natively with:
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
or point TEST_MYSQL_URL / TEST_REDIS_URL at running servers.`;

/** Creates this run's throwaway database, migrates it once, and checks Redis; fails at once if either is down. */
export default async function globalSetup() {
  const env = newRunEnvironment();
  Object.assign(process.env, env);

  let server: mysql.Connection;
  try {
    server = await mysql.createConnection({ uri: MYSQL_SERVER_URL, connectTimeout: 3000 });
  } catch (error) {
    throw new Error(`MySQL is not reachable at ${MYSQL_SERVER_URL}: ${(error as Error).message}${HOW_TO_START}`, { cause: error });
  }
  const redis = new Redis(REDIS_SERVER_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    await server.end();
    throw new Error(`Redis is not reachable at ${REDIS_SERVER_URL}: ${(error as Error).message}${HOW_TO_START}`, { cause: error });
  } finally {
    redis.disconnect();
  }

  const database = new URL(env.DATABASE_URL).pathname.slice(1);
  await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await server.end();

  const dataSource = new DataSource(dataSourceOptions({ databaseUrl: env.DATABASE_URL }));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
}
