import { userInfo } from 'node:os';

import { Global, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command, InvalidArgumentError } from 'commander';

import { ConfigModule } from '../../infra/config/config.module';
import { CryptoModule } from '../../infra/crypto/crypto.module';
import { DatabaseModule } from '../../infra/database/database.module';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditModule } from '../../modules/audit/audit.module';
import { CardProductsModule } from '../../modules/card-products/card-products.module';
import { MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, PrescreenRunView } from '../../modules/prescreening/prescreen-run';
import { PrescreenRunsRepository } from '../../modules/prescreening/prescreen-runs.repository';
import { PrescreenRunsService } from '../../modules/prescreening/prescreen-runs.service';
import { SigningModule } from '../../modules/signing/signing.module';
import { cliConfig, CliError } from '../cli-context';

// Only the outbox writer: the relay (and with it Redis and BullMQ) belongs to the worker role.
@Global()
@Module({ providers: [OutboxService], exports: [OutboxService] })
class CliOutboxModule {}

@Module({ providers: [PrescreenRunsRepository, PrescreenRunsService] })
class PrescreenCliModule {}

/** Runs over MySQL with the audit log; the runs' jobs go through the outbox to whatever workers are running. */
async function withRuns<T>(work: (runs: PrescreenRunsService) => Promise<T>): Promise<T> {
  const config = cliConfig();
  const app: INestApplicationContext = await NestFactory.createApplicationContext(
    {
      module: PrescreenCliModule,
      imports: [
        ConfigModule.forRoot(config),
        CryptoModule,
        DatabaseModule,
        AuditModule,
        SigningModule,
        CliOutboxModule,
        CardProductsModule,
      ],
    },
    { logger: ['error', 'warn'] },
  );
  try {
    await app.init();
    return await work(app.get(PrescreenRunsService));
  } finally {
    await app.close();
  }
}

const chunkSizeArg = (value: string) => {
  const n = Number(value);
  if (!/^[0-9]{1,6}$/.test(value) || n < MIN_CHUNK_SIZE || n > MAX_CHUNK_SIZE) {
    throw new InvalidArgumentError(`must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  return n;
};

/** One status line on stderr (rewritten in place on a terminal), so stdout keeps only the final JSON. */
function printProgress(view: PrescreenRunView, final = false) {
  const { evaluated, total, chunksDone, chunks } = view.progress;
  const pct = total ? ` ${Math.floor((100 * evaluated) / Math.max(total, 1))}%` : '';
  const text =
    `${view.id} ${view.status}${pct}  evaluated ${evaluated}/${total ?? '?'}  chunks ${chunksDone}/${chunks ?? '?'}` +
    `  eligible ${view.counts.eligible}  ineligible ${view.counts.ineligible}  offers ${view.counts.offersCreated}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
  else process.stderr.write(`${text}\n`);
}

const ended = (v: PrescreenRunView) => v.status === 'COMPLETED' || v.status === 'FAILED';

/**
 * `prescreen:run <productCode> [--wait]` starts a run of the product's current version (as the operator API does);
 * with --wait it follows the run (running workers do the work) until it completes or fails, showing progress.
 * `prescreen:status <runId>` prints a run's status, progress, counts and reasons.
 */
export function register(program: Command): void {
  program
    .command('prescreen:run')
    .description('start a pre-screen run of a card product; --wait follows it to the end with a progress display (needs running workers)')
    .argument('<productCode>', 'card product code, e.g. XB-PLATINUM')
    .option('--wait', 'wait until the run completes or fails, showing progress')
    .option('--chunk-size <users>', `users per chunk (${MIN_CHUNK_SIZE}-${MAX_CHUNK_SIZE}, default 10000)`, chunkSizeArg)
    .option('--poll <ms>', 'progress refresh interval with --wait', '500')
    .action(async (productCode: string, opts: { wait?: boolean; chunkSize?: number; poll: string }) => {
      const pollMs = Math.max(100, Number(opts.poll) || 500);
      const view = await withRuns(async (runs) => {
        const { id } = await runs.start(productCode, { actorType: 'admin', actorId: `cli:${userInfo().username}` }, opts.chunkSize);
        if (!opts.wait) return runs.view(id);
        for (;;) {
          const current = await runs.view(id);
          printProgress(current, ended(current));
          if (ended(current)) return current;
          await new Promise((resolve) => setTimeout(resolve, pollMs));
        }
      });
      console.log(JSON.stringify(view, null, 2));
      if (view.status === 'FAILED') throw new CliError(`run ${view.id} failed: ${view.failureReason ?? 'see the worker logs'}`);
    });

  program
    .command('prescreen:status')
    .description('status, progress, counts and reasons of a pre-screen run')
    .argument('<runId>', 'run id, e.g. run_42')
    .action(async (runId: string) => {
      console.log(JSON.stringify(await withRuns((runs) => runs.view(runId)), null, 2));
    });
}
