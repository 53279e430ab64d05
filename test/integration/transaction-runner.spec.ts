import { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';

import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { startHttpApp } from '../support/app';

/** Every use case's transaction: READ COMMITTED on every pooled connection, all or nothing. */
describe('TransactionRunner', () => {
  let api: INestApplicationContext;
  let db: DataSource;
  let tx: TransactionRunner;
  const table = `tx_runner_probe_${process.pid}`;

  beforeAll(async () => {
    api = await startHttpApp('api');
    db = api.get(DataSource);
    tx = api.get(TransactionRunner);
    await db.query(`CREATE TABLE ${table} (id INT PRIMARY KEY) ENGINE=InnoDB`);
  });

  afterAll(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await api.close();
  });

  it('runs at READ COMMITTED on first and later uses of every connection, even after a REPEATABLE READ transaction', async () => {
    await db.transaction('REPEATABLE READ', (m) => m.query('SELECT 1'));
    const levels = await Promise.all(
      Array.from({ length: 60 }, () => tx.run(async (m) => (await m.query('SELECT @@tx_isolation AS level'))[0].level as string)),
    );
    expect(new Set(levels)).toEqual(new Set(['READ-COMMITTED']));
  });

  it('commits the work, and rolls all of it back when the work throws', async () => {
    await tx.run((m) => m.query(`INSERT INTO ${table} (id) VALUES (1)`));
    await expect(
      tx.run(async (m) => {
        await m.query(`INSERT INTO ${table} (id) VALUES (2)`);
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(await db.query(`SELECT id FROM ${table} ORDER BY id`)).toEqual([{ id: 1 }]);
  });
});
