import { DataSource } from 'typeorm';

import { AppConfig } from '../infra/config/app-config';
import { loadConfig } from '../infra/config/load-config';
import { dataSourceOptions } from '../infra/database/data-source-options';

/** An operator mistake the command can explain (printed without a stack trace, exit code 1). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * The validated configuration, loaded when a command runs rather than at start-up, so that `--help` works
 * without a configured environment. A bad value throws ConfigurationError, which main.ts prints.
 */
export const cliConfig = (): AppConfig => loadConfig();

/** Runs `work` on a small, short-lived MySQL pool and always closes it, so the command exits promptly. */
export async function withDataSource<T>(config: AppConfig, work: (db: DataSource) => Promise<T>): Promise<T> {
  const db = new DataSource(dataSourceOptions(config, { poolSize: 2 }));
  await db.initialize();
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}
