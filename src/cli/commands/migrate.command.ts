import { Command } from 'commander';
import * as mysql from 'mysql2/promise';
import { DataSource } from 'typeorm';

import { AppConfig } from '../../infra/config/app-config';
import { cliConfig, CliError, withDataSource } from '../cli-context';

const ER_BAD_DB_ERROR = 1049;
/** Named lock so that migrate jobs started side by side (several deploys, compose restarts) run one after another. */
const MIGRATION_LOCK = 'referral_gateway_migrations';
const LOCK_WAIT_SECONDS = 300;

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations to DATABASE_URL (creates the database when it does not exist)')
    .action(async () => {
      const config = cliConfig();
      await ensureDatabase(config);
      const applied = await withDataSource(config, migrate);
      if (applied.length === 0) console.log('migrate: no pending migrations');
      for (const name of applied) console.log(`migrate: applied ${name}`);
    });
}

async function migrate(db: DataSource): Promise<string[]> {
  const lock = db.createQueryRunner();
  try {
    const [{ got }] = await lock.query('SELECT GET_LOCK(?, ?) AS got', [MIGRATION_LOCK, LOCK_WAIT_SECONDS]);
    if (Number(got) !== 1) throw new CliError(`another migrate run held the migration lock for ${LOCK_WAIT_SECONDS} s`);
    const migrations = await db.runMigrations({ transaction: 'each' });
    return migrations.map((m) => m.name);
  } finally {
    await lock.query('SELECT RELEASE_LOCK(?)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.release();
  }
}

/** A fresh MySQL has no database yet; create it with the charset every table expects, if we may. */
async function ensureDatabase(config: AppConfig): Promise<void> {
  const url = new URL(config.databaseUrl);
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!database) throw new CliError('DATABASE_URL names no database (mysql://user:password@host:port/database)');
  url.pathname = '/';
  const server = await mysql.createConnection({ uri: url.toString() });
  try {
    await server.query(`USE \`${database.replace(/`/g, '``')}\``);
  } catch (error) {
    if ((error as { errno?: number }).errno !== ER_BAD_DB_ERROR) throw error;
    await server.query(
      `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '``')}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
    console.log(`migrate: created database ${database}`);
  } finally {
    await server.end();
  }
}
