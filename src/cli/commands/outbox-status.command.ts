import { Command } from 'commander';

import { OUTBOX_STATUSES, OutboxStatsRepository } from '../../infra/ops/outbox-stats.repository';
import { cliConfig, withDataSource } from '../cli-context';

export function register(program: Command): void {
  program
    .command('outbox:status')
    .description('outbox rows by status, and the age of the oldest row not yet relayed')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const stats = await withDataSource(cliConfig(), (db) => new OutboxStatsRepository(db).read());
      if (opts.json) {
        console.log(JSON.stringify(stats));
        return;
      }
      for (const status of OUTBOX_STATUSES) console.log(`${status.padEnd(9)} ${stats.counts[status]}`);
      const oldest = stats.oldestPendingSeconds;
      console.log(`oldest pending: ${oldest === null ? 'none' : `${oldest} s`}`);
    });
}
