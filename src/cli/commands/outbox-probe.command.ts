import { Command } from 'commander';

import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { OutboxProbe } from '../../infra/outbox/outbox-probe';
import { cliConfig, CliError, withDataSource } from '../cli-context';

/** `outbox:probe`: sends a probe through outbox → relay → BullMQ → worker and waits until a worker handled it. */
export function register(program: Command): void {
  program
    .command('outbox:probe')
    .description('check the job pipeline end to end (needs a running worker); exits 1 if the probe is not handled in time')
    .option('--timeout <seconds>', 'how long to wait for a worker', '30')
    .action(async (opts: { timeout: string }) => {
      const timeoutMs = Number(opts.timeout) * 1000;
      await withDataSource(cliConfig(), async (db) => {
        const probes = new OutboxProbe(new TransactionRunner(db), new OutboxService(), db);
        const started = Date.now();
        const { probeId, outboxId } = await probes.start('cli', `cli:outbox-probe:${started}`);
        console.log(`probe ${probeId} written with outbox row ${outboxId}; waiting for a worker…`);
        while (Date.now() - started < timeoutMs) {
          const [row] = await db.query('SELECT handled_at FROM outbox_probes WHERE id = ?', [probeId]);
          if (row?.handled_at) {
            console.log(`handled after ${Date.now() - started} ms`);
            return;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        throw new CliError(`probe ${probeId} not handled within ${opts.timeout} s: is a worker running? (npm run cli -- outbox:status)`);
      });
    });
}
