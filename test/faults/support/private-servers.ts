import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';

import { freePort, OwnedProcess, until } from './processes';

const run = promisify(execFile);

/**
 * The servers of the cases that stop, kill or flush them. The shared MariaDB and Redis of the machine are never
 * touched that way: each such case starts a private mariadbd / redis-server on a data directory and port of its own,
 * and removes them afterwards.
 */
export class PrivateMariaDb {
  private process?: OwnedProcess;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly extraArgs: string[],
  ) {}

  /** A fresh data directory (mariadb-install-db, root without a password) and a started server. */
  static async create(extraArgs: string[] = []): Promise<PrivateMariaDb> {
    const dir = mkdtempSync(join(tmpdir(), 'rg-fault-mariadb-'));
    await run('mariadb-install-db', [
      '--no-defaults',
      `--datadir=${join(dir, 'data')}`,
      `--user=${userInfo().username}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ]);
    const server = new PrivateMariaDb(dir, await freePort(), extraArgs);
    await server.start();
    return server;
  }

  /** The server root URL (no database). */
  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.process = new OwnedProcess(
      'private mariadbd',
      '/usr/sbin/mariadbd',
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--socket=${join(this.dir, 'sock')}`,
        `--pid-file=${join(this.dir, 'pid')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--user=${userInfo().username}`,
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
        '--innodb-buffer-pool-size=64M',
        '--max-connections=200',
        '--skip-log-bin',
        `--log-error=${join(this.dir, 'error.log')}`,
        ...this.extraArgs,
      ],
      process.env,
    );
    await until('private MariaDB accepting connections', () => this.ping(), { timeoutMs: 60_000, everyMs: 200, watch: [this.process] });
  }

  /** Clean shutdown (SIGTERM): what a restart by an operator or an orchestrator does. */
  async stop(): Promise<void> {
    await this.process?.stop(60_000);
  }

  /** kill -9: a crash; InnoDB recovers on the next start. */
  async crash(): Promise<void> {
    await this.process?.kill9();
  }

  async ping(): Promise<boolean> {
    try {
      const c = await mysql.createConnection({ uri: this.url, connectTimeout: 1000 });
      await c.end();
      return true;
    } catch {
      return false;
    }
  }

  async remove(): Promise<void> {
    await this.process?.stop(30_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class PrivateRedis {
  private process?: OwnedProcess;

  private constructor(readonly port: number) {}

  static async create(): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort());
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** No persistence: a restart starts empty, like a lost Redis. */
  async start(): Promise<void> {
    this.process = new OwnedProcess(
      'private redis-server',
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'],
      process.env,
    );
    await until('private Redis answering', () => this.command((r) => r.ping()), { timeoutMs: 30_000, everyMs: 100, watch: [this.process] });
  }

  async stop(): Promise<void> {
    await this.process?.stop(10_000);
  }

  /** FLUSHALL on this private server only. */
  async flushAll(): Promise<void> {
    await this.command((r) => r.flushall());
  }

  async command<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    const redis = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  }

  async remove(): Promise<void> {
    await this.process?.stop(10_000);
  }
}
