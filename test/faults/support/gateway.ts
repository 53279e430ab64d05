import { randomBytes } from 'node:crypto';

import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { dataSourceOptions } from '../../../src/infra/database/data-source-options';
import { BUILT_GATEWAY } from '../../support/built-dist';
import { freePort, OwnedProcess, until } from './processes';

/**
 * Where a case's gateway processes keep their state. By default the jest run's own database and Redis prefix on the
 * shared servers (test/support/global-setup.ts made and migrated them); a case that stops or flushes a server gets
 * a database of its own on its private server instead (privateStore).
 */
export interface Store {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** The suite's own connections to the store's database (checks, and the locks some cases hold). */
  db: mysql.Pool;
}

export function runStore(): Store {
  const databaseUrl = process.env.DATABASE_URL!;
  return {
    databaseUrl,
    redisUrl: process.env.REDIS_URL!,
    redisPrefix: process.env.REDIS_PREFIX!,
    db: mysql.createPool({ uri: databaseUrl, connectionLimit: 6, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' }),
  };
}

/** A migrated database on a private MariaDB, and a Redis prefix of its own on the given Redis. */
export async function privateStore(mysqlServerUrl: string, redisUrl: string): Promise<Store> {
  const database = `rg_fault_${randomBytes(4).toString('hex')}`;
  const server = await mysql.createConnection({ uri: mysqlServerUrl });
  await server.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await server.end();
  const databaseUrl = `${mysqlServerUrl}/${database}`;
  const dataSource = new DataSource(dataSourceOptions({ databaseUrl }));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
  return {
    databaseUrl,
    redisUrl,
    redisPrefix: `{rgf-${database}}`,
    db: mysql.createPool({ uri: databaseUrl, connectionLimit: 6, supportBigNumbers: true, bigNumberStrings: true, timezone: 'Z' }),
  };
}

export type Role = 'api' | 'worker' | 'all';

/**
 * One gateway process exactly as operators run it: `node dist/src/main.js <role>`, configured through the
 * environment only. The api role is ready when /health/live answers; a worker when its metrics server does (it
 * starts once every queue worker and loop has bootstrapped).
 */
export class Gateway {
  private constructor(
    readonly role: Role,
    readonly process: OwnedProcess,
    readonly port: number,
  ) {}

  static async start(role: Role, store: Store, env: Record<string, string> = {}): Promise<Gateway> {
    const port = await freePort();
    const processEnv: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: store.databaseUrl,
      REDIS_URL: store.redisUrl,
      REDIS_PREFIX: store.redisPrefix,
      LOG_LEVEL: 'warn',
      ...(role === 'worker' ? { WORKER_METRICS_PORT: String(port) } : { PORT: String(port) }),
      ...env,
    };
    const gateway = new Gateway(role, new OwnedProcess(`gateway ${role}`, process.execPath, [BUILT_GATEWAY, role], processEnv), port);
    await gateway.ready(Number(processEnv.API_PROCESSES ?? 1));
    return gateway;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.process.alive;
  }

  /** An api cluster (API_PROCESSES > 1) is ready when every worker listens: /metrics counts them (`api_processes`). */
  private async ready(apiProcesses: number): Promise<void> {
    const headers = { authorization: `Bearer ${process.env.METRICS_TOKEN}` };
    const clustered = this.role === 'api' && apiProcesses > 1;
    const url = this.role === 'worker' || clustered ? `${this.baseUrl}/metrics` : `${this.baseUrl}/health/live`;
    await until(
      `${this.role} process ready`,
      async () => {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
        if (!clustered) return res.ok;
        return res.ok && Number(/^api_processes (\d+)$/m.exec(await res.text())?.[1]) === apiProcesses;
      },
      { timeoutMs: 90_000, everyMs: 200, watch: [this.process] },
    );
  }

  kill9() {
    return this.process.kill9();
  }

  stop(graceMs?: number) {
    return this.process.stop(graceMs);
  }
}
