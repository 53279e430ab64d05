import { DataSource } from 'typeorm';

import { dataSourceOptions } from '../../src/infra/database/data-source-options';
import { PoolAcquireTimeoutError } from '../../src/infra/database/database-unavailable';

/**
 * The bounded wait for a pooled connection (DATABASE_POOL_ACQUIRE_TIMEOUT_MS): mysql2's pool would queue a caller
 * until a connection frees up, however long. A pool of one connection, held by an open query runner, on the run's
 * own database.
 */
describe('database pool acquire timeout', () => {
  let db: DataSource;

  beforeAll(async () => {
    db = new DataSource(
      dataSourceOptions({ databaseUrl: process.env.DATABASE_URL!, databasePoolSize: 1, databasePoolAcquireTimeoutMs: 300 }),
    );
    await db.initialize();
  });

  afterAll(async () => {
    await db.destroy();
  });

  it('refuses a query that finds no free connection within the bound, and the pool keeps its connection', async () => {
    const holder = db.createQueryRunner();
    await holder.connect();
    try {
      await expect(db.query('SELECT 1')).rejects.toBeInstanceOf(PoolAcquireTimeoutError);
      await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'POOL_ACQUIRE_TIMEOUT' });
    } finally {
      await holder.release();
    }
    // The queued callers had given up when the connection came free: it went back to the pool, not to them.
    expect(await db.query('SELECT 2 AS two')).toEqual([{ two: 2 }]);
  });

  it('hands a connection freed within the bound to the waiting caller', async () => {
    const holder = db.createQueryRunner();
    await holder.connect();
    const waiting = db.query('SELECT 3 AS three');
    setTimeout(() => void holder.release(), 50);
    expect(await waiting).toEqual([{ three: 3 }]);
  });
});
