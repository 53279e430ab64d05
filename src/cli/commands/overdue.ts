import { userInfo } from 'node:os';

import { Global, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command, InvalidArgumentError } from 'commander';

import { DomainError } from '../../common/errors';
import { ConfigModule } from '../../infra/config/config.module';
import { CryptoModule } from '../../infra/crypto/crypto.module';
import { DatabaseModule } from '../../infra/database/database.module';
import { OutboxService } from '../../infra/outbox/outbox.service';
import { AuditModule } from '../../modules/audit/audit.module';
import { isCalendarDate } from '../../modules/credit-records/ingest/line-validation';
import { MAX_SCAN_CHUNK_SIZE, MIN_SCAN_CHUNK_SIZE, OverdueScanView } from '../../modules/overdue/overdue-scan';
import { OverdueScansRepository } from '../../modules/overdue/overdue-scans.repository';
import { OverdueScansService } from '../../modules/overdue/overdue-scans.service';
import { SigningModule } from '../../modules/signing/signing.module';
import { cliConfig, CliError } from '../cli-context';

// Only the outbox writer: the relay (and with it Redis and BullMQ) belongs to the worker role.
@Global()
@Module({ providers: [OutboxService], exports: [OutboxService] })
class CliOutboxModule {}

@Module({ providers: [OverdueScansRepository, OverdueScansService] })
class OverdueCliModule {}

/** Scans over MySQL with the audit log; the scans' jobs go through the outbox to whatever workers are running. */
async function withScans<T>(work: (scans: OverdueScansService) => Promise<T>): Promise<T> {
  const app: INestApplicationContext = await NestFactory.createApplicationContext(
    {
      module: OverdueCliModule,
      imports: [ConfigModule.forRoot(cliConfig()), CryptoModule, DatabaseModule, AuditModule, SigningModule, CliOutboxModule],
    },
    { logger: ['error', 'warn'] },
  );
  try {
    await app.init();
    return await work(app.get(OverdueScansService));
  } catch (error) {
    // A refusal the API would answer with a problem (future date, date behind, scan in progress): one clear line.
    if (error instanceof DomainError) throw new CliError(error.detail ?? error.title);
    throw error;
  } finally {
    await app.close();
  }
}

const dateArg = (value: string) => {
  if (!isCalendarDate(value)) throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  return value;
};

const chunkSizeArg = (value: string) => {
  const n = Number(value);
  if (!/^[0-9]{1,6}$/.test(value) || n < MIN_SCAN_CHUNK_SIZE || n > MAX_SCAN_CHUNK_SIZE) {
    throw new InvalidArgumentError(`must be an integer from ${MIN_SCAN_CHUNK_SIZE} to ${MAX_SCAN_CHUNK_SIZE}`);
  }
  return n;
};

/** One status line on stderr (rewritten in place on a terminal), so stdout keeps only the final JSON. */
function printProgress(view: OverdueScanView, final = false) {
  const { evaluated, total } = view.progress;
  const pct = total ? ` ${Math.floor((100 * evaluated) / Math.max(total, 1))}%` : '';
  const c = view.counts;
  const text =
    `${view.id} ${view.asOf} ${view.status}${pct}  evaluated ${evaluated}/${total ?? '?'}  notices ${c.noticesSent}` +
    `  cancelled ${c.noticesCancelled}  reported ${c.reported}  updated ${c.updated}  cured ${c.cured}  suppressed ${c.suppressed}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
  else process.stderr.write(`${text}\n`);
}

const ended = (v: OverdueScanView) => v.status === 'COMPLETED' || v.status === 'FAILED';

/**
 * `overdue:scan --as-of D [--wait]` starts the overdue scan for business date D (as the operator API does); with
 * --wait it follows the scan (running workers do the work) until it completes or fails, showing progress.
 * `overdue:scan-status <id>` prints a scan's status, progress and counts.
 */
export function register(program: Command): void {
  program
    .command('overdue:scan')
    .description('start the overdue scan for a business date; --wait follows it to the end with a progress display (needs running workers)')
    .requiredOption('--as-of <date>', 'the business date to scan for, YYYY-MM-DD (UTC; not in the future)', dateArg)
    .option('--wait', 'wait until the scan completes or fails, showing progress')
    .option(
      '--chunk-size <cardholders>',
      `cardholders per chunk (${MIN_SCAN_CHUNK_SIZE}-${MAX_SCAN_CHUNK_SIZE}, default 10000)`,
      chunkSizeArg,
    )
    .option('--poll <ms>', 'progress refresh interval with --wait', '500')
    .action(async (opts: { asOf: string; wait?: boolean; chunkSize?: number; poll: string }) => {
      const pollMs = Math.max(100, Number(opts.poll) || 500);
      const view = await withScans(async (scans) => {
        const { id } = await scans.start(opts.asOf, { actorType: 'admin', actorId: `cli:${userInfo().username}` }, opts.chunkSize);
        if (!opts.wait) return scans.view(id);
        for (;;) {
          const current = await scans.view(id);
          printProgress(current, ended(current));
          if (ended(current)) return current;
          await new Promise((resolve) => setTimeout(resolve, pollMs));
        }
      });
      console.log(JSON.stringify(view, null, 2));
      if (view.status === 'FAILED') throw new CliError(`scan ${view.id} failed: ${view.failureReason ?? 'see the worker logs'}`);
    });

  program
    .command('overdue:scan-status')
    .description('status, progress and counts of an overdue scan')
    .argument('<scanId>', 'scan id, e.g. osc_42')
    .action(async (scanId: string) => {
      console.log(JSON.stringify(await withScans((scans) => scans.view(scanId)), null, 2));
    });
}
