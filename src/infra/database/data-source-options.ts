import * as mysql2 from 'mysql2';
import { DataSourceOptions } from 'typeorm';

import { AppConfig } from '../config/app-config';
import { PoolAcquireTimeoutError } from './database-unavailable';
import { MIGRATIONS } from './migrations';

/** How long a query waits for a pooled connection when DATABASE_POOL_ACQUIRE_TIMEOUT_MS is not given (CLI, tests). */
export const DEFAULT_POOL_ACQUIRE_TIMEOUT_MS = 5000;

/**
 * mysql2 wrapped so that every pooled connection runs in UTC before its first query:
 * the driver's own `timezone` only converts values, the session time zone decides NOW() and TIMESTAMP columns.
 *
 * Two per-query costs of TypeORM's `connection.promise().query()` are removed (together ≈ 12 % of the api's CPU in
 * profiles of the apply path): `.promise()` builds a new wrapper (and re-enters `require`) on every query, so each
 * connection keeps one; and `trace` captures a stack trace per query for error messages, which TypeORM's
 * QueryFailedError (query text and driver error) makes redundant.
 *
 * And the wait for a connection is bounded: mysql2's pool queues a caller until a connection frees up, with no
 * timeout of its own (only `queueLimit`, a length), so with every connection busy (a lock held, a slow database) a
 * request would wait until its client gave up. After `acquireTimeoutMs` the caller gets a PoolAcquireTimeoutError
 * (answered 503 with retry-after); the connection that frees up later goes back to the pool.
 */
function pooledMysql2(acquireTimeoutMs: number) {
  return {
    ...mysql2,
    createPool(options: mysql2.PoolOptions) {
      const pool = mysql2.createPool({ ...options, trace: false });
      pool.on('connection', (connection) => {
        connection.query("SET time_zone = '+00:00'");
        const promised = connection.promise();
        connection.promise = () => promised;
      });
      boundAcquireWait(pool, acquireTimeoutMs);
      return pool;
    },
  };
}

type GetConnection = (callback: (err: NodeJS.ErrnoException | null, connection: mysql2.PoolConnection) => void) => void;

function boundAcquireWait(pool: mysql2.Pool, timeoutMs: number): void {
  // The pool's own query() and execute() go through this.getConnection too, so replacing it covers every path.
  const acquire = pool.getConnection.bind(pool) as GetConnection;
  (pool as { getConnection: GetConnection }).getConnection = (callback) => {
    let gaveUp = false;
    const timer = setTimeout(() => {
      gaveUp = true;
      callback(new PoolAcquireTimeoutError(timeoutMs), undefined as unknown as mysql2.PoolConnection);
    }, timeoutMs);
    acquire((err, connection) => {
      if (gaveUp) {
        if (!err) connection.release(); // its caller has been answered already: the next one in the queue gets it
        return;
      }
      clearTimeout(timer);
      callback(err, connection);
    });
  };
}

export function dataSourceOptions(
  config: Pick<AppConfig, 'databaseUrl'> & Partial<Pick<AppConfig, 'databasePoolSize' | 'databasePoolAcquireTimeoutMs'>>,
  overrides: { poolSize?: number } = {},
): DataSourceOptions {
  return {
    type: 'mysql',
    driver: pooledMysql2(config.databasePoolAcquireTimeoutMs ?? DEFAULT_POOL_ACQUIRE_TIMEOUT_MS),
    url: config.databaseUrl,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    // BIGINT and DECIMAL come back as strings: ids and money never pass through a float.
    supportBigNumbers: true,
    bigNumberStrings: true,
    poolSize: overrides.poolSize ?? config.databasePoolSize ?? 10,
    synchronize: false,
    migrationsRun: false,
    migrationsTableName: 'schema_migrations',
    migrations: MIGRATIONS,
    entities: [__dirname + '/../../**/*.entity.{ts,js}'],
    logging: false,
  };
}
