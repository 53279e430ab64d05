import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { userInfo } from 'node:os';

import { INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command, InvalidArgumentError } from 'commander';

import { ConfigModule } from '../../infra/config/config.module';
import { CryptoModule } from '../../infra/crypto/crypto.module';
import { DatabaseModule } from '../../infra/database/database.module';
import { AuditModule } from '../../modules/audit/audit.module';
import {
  importLines,
  ImportProgress,
  ImportResult,
  ndjsonFileLines,
  syntheticLines,
} from '../../modules/credit-records/credit-records.bulk-import';
import { CreditRecordsModule } from '../../modules/credit-records/credit-records.module';
import { CreditRecordsService } from '../../modules/credit-records/credit-records.service';
import { isCalendarDate } from '../../modules/credit-records/ingest/line-validation';
import { syntheticNdjson, SyntheticOptions } from '../../modules/credit-records/synthetic/synthetic-credit-records';
import { SigningModule } from '../../modules/signing/signing.module';
import { cliConfig, CliError } from '../cli-context';

@Module({})
class CreditRecordsCliModule {}

/** Credit records over MySQL, with the audit log (no HTTP, no Redis, no workers). */
async function withCreditRecords<T>(work: (service: CreditRecordsService) => Promise<T>): Promise<T> {
  const config = cliConfig();
  const app: INestApplicationContext = await NestFactory.createApplicationContext(
    {
      module: CreditRecordsCliModule,
      imports: [ConfigModule.forRoot(config), CryptoModule, DatabaseModule, AuditModule, SigningModule, CreditRecordsModule],
    },
    { logger: ['error', 'warn'] },
  );
  try {
    await app.init();
    return await work(app.get(CreditRecordsService));
  } finally {
    await app.close();
  }
}

const positiveInt = (name: string) => (value: string) => {
  if (!/^[0-9]{1,10}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return Number(value);
};
const nonNegativeInt = (value: string) => {
  if (!/^[0-9]{1,12}$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
};
const dateArg = (value: string) => {
  if (!isCalendarDate(value)) throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  return value;
};

/** One status line on stderr, rewritten in place on a terminal, so stdout keeps only the final JSON summary. */
function progressPrinter(total?: number) {
  let lastPrint = 0;
  return (p: ImportProgress, final = false) => {
    const now = Date.now();
    if (!final && now - lastPrint < 250) return;
    lastPrint = now;
    const rate = p.elapsedMs ? Math.round((p.lines * 1000) / p.elapsedMs) : 0;
    const of = total ? `/${total}` : '';
    const text = `lines ${p.lines}${of}  ${rate} lines/s  accepted ${p.accepted}  ignored ${p.ignored}  rejected ${p.rejected}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
    else process.stderr.write(`${text}\n`);
  };
}

async function auditImport(service: CreditRecordsService, result: ImportResult): Promise<void> {
  await service.auditIngest('credit_records.ingested', { actorType: 'admin', actorId: `cli:${userInfo().username}` }, result);
}

function summary(result: ImportResult) {
  const { lines, accepted, ignored, rejected, elapsedMs, rejectedLines } = result;
  return { lines, accepted, ignored, rejected, seconds: Math.round(elapsedMs) / 1000, firstRejected: rejectedLines };
}

/**
 * `credit-records:ingest <file>` (alias `ingest`) loads an NDJSON file of credit record lines through the same
 * validation and set-based writes as the HTTP endpoint, with a progress display; `credit-records:synth`
 * (alias `synth`) generates seeded synthetic users to a file or straight into the database.
 */
export function register(program: Command): void {
  program
    .command('credit-records:ingest')
    .alias('ingest')
    .description('ingest an NDJSON file of credit record snapshots ("-" reads stdin), showing lines/s and accepted/ignored/rejected')
    .argument('<file>', 'NDJSON file, one credit record line (API.md) per line')
    .option('--batch <lines>', 'lines per service call', positiveInt('--batch'), 5000)
    .option('--show-rejected <n>', 'rejected lines to list in the summary (line numbers and errors only)', nonNegativeInt, 20)
    .action(async (file: string, opts: { batch: number; showRejected: number }) => {
      const print = progressPrinter();
      const result = await withCreditRecords(async (service) => {
        const r = await importLines(service, ndjsonFileLines(file), {
          batchLines: opts.batch,
          keepRejected: opts.showRejected,
          onProgress: (p) => print(p),
        });
        await auditImport(service, r);
        return r;
      });
      print(result, true);
      console.log(JSON.stringify(summary(result), null, 2));
      if (result.rejected > 0) throw new CliError(`${result.rejected} line(s) rejected; the others were ingested (see firstRejected)`, 2);
    });

  program
    .command('credit-records:synth')
    .alias('synth')
    .description('generate N seeded synthetic users (deterministic per seed) as NDJSON, or ingest them directly')
    .requiredOption('--users <n>', 'how many users', positiveInt('--users'))
    .option('--seed <seed>', 'seed (same seed, same users)', '1')
    .option('--as-of <date>', 'snapshot date of every record', dateArg)
    .option('--start <index>', 'index of the first user, to generate a slice', nonNegativeInt, 0)
    .option('--prefix <prefix>', 'user id prefix', 'u_')
    .option('--out <file>', 'write NDJSON here ("-" for stdout)')
    .option('--db', 'ingest straight into the configured database instead of writing a file')
    .action(async (opts: { users: number; seed: string; asOf?: string; start: number; prefix: string; out?: string; db?: boolean }) => {
      if (!!opts.out === !!opts.db) throw new CliError('give exactly one of --out <file> or --db');
      if (!/^[A-Za-z0-9._:-]{0,40}$/.test(opts.prefix)) throw new CliError('--prefix must be up to 40 characters of [A-Za-z0-9._:-]');
      const seed = /^[0-9]{1,9}$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const options: SyntheticOptions = { users: opts.users, seed, asOf: opts.asOf, startIndex: opts.start, userIdPrefix: opts.prefix };
      if (opts.out) {
        await writeNdjson(opts.out, syntheticNdjson(options));
        if (opts.out !== '-') console.error(`wrote ${opts.users} users to ${opts.out}`);
        return;
      }
      const print = progressPrinter(opts.users);
      const result = await withCreditRecords(async (service) => {
        const r = await importLines(service, syntheticLines(options), { onProgress: (p) => print(p) });
        await auditImport(service, r);
        return r;
      });
      print(result, true);
      console.log(JSON.stringify(summary(result), null, 2));
    });
}

/** Streams lines to a file (or stdout), honouring back-pressure so memory stays flat for any N. */
async function writeNdjson(path: string, lines: Iterable<string>): Promise<void> {
  const out = path === '-' ? process.stdout : createWriteStream(path, { encoding: 'utf8' });
  for (const line of lines) {
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  if (out !== process.stdout) {
    out.end();
    await once(out, 'finish');
  }
}
