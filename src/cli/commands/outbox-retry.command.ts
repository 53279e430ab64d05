import { userInfo } from 'node:os';

import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command, InvalidArgumentError } from 'commander';

import { ConfigModule } from '../../infra/config/config.module';
import { CryptoModule } from '../../infra/crypto/crypto.module';
import { DatabaseModule } from '../../infra/database/database.module';
import { TransactionRunner } from '../../infra/database/transaction.runner';
import { OutboxAdmin } from '../../infra/outbox/outbox-admin';
import { AuditModule } from '../../modules/audit/audit.module';
import { AuditWriter } from '../../modules/audit/audit.writer';
import { SigningModule } from '../../modules/signing/signing.module';
import { cliConfig, CliError, withDataSource } from '../cli-context';

/** MySQL and the audit log only: the relay of a running worker picks the row up. */
async function withAudit<T>(work: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const app = await NestFactory.createApplicationContext(
    {
      module: class OutboxCliModule {},
      imports: [ConfigModule.forRoot(cliConfig()), CryptoModule, DatabaseModule, AuditModule, SigningModule],
    },
    { logger: ['error', 'warn'] },
  );
  try {
    await app.init();
    return await work(app);
  } finally {
    await app.close();
  }
}

const outboxIdArg = (value: string) => {
  if (!/^[1-9][0-9]{0,19}$/.test(value)) throw new InvalidArgumentError('must be an outbox row id (a positive integer)');
  return value;
};

/**
 * `outbox:failed` lists the rows whose job gave up (FAILED) or that the relay could not hand over (PARKED);
 * `outbox:retry <id>` sends one back to the relay under a new job id, audited.
 */
export function register(program: Command): void {
  program
    .command('outbox:failed')
    .description('list FAILED and PARKED outbox rows (newest first) with their last error')
    .option('--limit <n>', 'most rows to list', '50')
    .action(async (opts: { limit: string }) => {
      const limit = Math.min(Math.max(Number(opts.limit) || 50, 1), 1000);
      const rows = await withDataSource(cliConfig(), (db) => new OutboxAdmin().listStuck(db, limit));
      console.log(JSON.stringify(rows, null, 2));
    });

  program
    .command('outbox:retry')
    .description('send a FAILED or PARKED outbox row back to the relay (a new job id, so BullMQ runs it again); audited')
    .argument('<id>', 'outbox row id (see outbox:failed)', outboxIdArg)
    .action(async (id: string) => {
      const result = await withAudit((app) =>
        app.get(TransactionRunner).run(async (m) => {
          const outcome = await new OutboxAdmin().retry(m, id);
          if ('retried' in outcome) {
            const { queue, jobName, previousStatus } = outcome.retried;
            await app.get(AuditWriter).append(
              {
                actorType: 'admin',
                actorId: `cli:${userInfo().username}`,
                action: 'outbox.retried',
                resourceType: 'outbox',
                resourceId: id,
                outcome: 'SUCCESS',
                details: { queue, job: jobName, previousStatus },
              },
              m,
            );
          }
          return outcome;
        }),
      );
      if ('refused' in result) {
        throw new CliError(
          result.refused === 'not-found' ? `outbox row ${id} not found` : `outbox row ${id} is ${result.status}, not FAILED or PARKED`,
        );
      }
      console.log(JSON.stringify(result.retried));
    });
}
