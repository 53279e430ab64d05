import { readFile } from 'node:fs/promises';

import { INestApplicationContext } from '@nestjs/common';
import { Command, InvalidArgumentError } from 'commander';

import { loadConfig } from '../../infra/config/load-config';
import { verifyArchiveFile } from '../../modules/audit/audit-archive-file.verifier';
import { AuditArchiver } from '../../modules/audit/audit-archiver.service';
import { AuditChainer } from '../../modules/audit/audit-chainer.service';
import { AuditCheckpointer } from '../../modules/audit/audit-checkpoint.service';
import { AuditVerifier } from '../../modules/audit/audit-verifier.service';
import { createTrustCoreContext } from '../../modules/signing/trust-core.context';
import { CliError } from '../cli-context';

const seqArg = (value: string): number => {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive sequence number');
  return Number(value);
};

async function withContext<T>(work: (app: INestApplicationContext) => Promise<T>): Promise<T> {
  const app = await createTrustCoreContext(loadConfig());
  try {
    return await work(app);
  } finally {
    await app.close();
  }
}

/** `audit:verify`, `audit:chain`, `audit:checkpoint`: operate and check the hash-chained audit log. */
export function register(program: Command): void {
  program
    .command('audit:verify')
    .description('recompute the audit hash chain and check signed checkpoints; exit code 1 names the first broken entry')
    .option('--from <seq>', 'first sequence number to check', seqArg)
    .option('--to <seq>', 'last sequence number to check', seqArg)
    .action(async (opts: { from?: number; to?: number }) => {
      const result = await withContext((app) => app.get(AuditVerifier).verify(opts));
      console.log(JSON.stringify(result, null, 2));
      if (!result.ok) process.exitCode = 1;
    });

  program
    .command('audit:chain')
    .description('chain every pending audit inbox entry now (the worker role does this continuously)')
    .action(async () => {
      const chained = await withContext((app) => app.get(AuditChainer).drain());
      console.log(JSON.stringify({ chained }));
    });

  program
    .command('audit:checkpoint')
    .description('sign the current chain head now (the worker role does this every 5 minutes)')
    .action(async () => {
      const checkpoint = await withContext((app) => app.get(AuditCheckpointer).checkpoint());
      console.log(JSON.stringify({ checkpoint }));
    });

  program
    .command('audit:archive')
    .description('archive the closed audit segments older than AUDIT_RETENTION_DAYS into AUDIT_ARCHIVE_DIR now, then remove them')
    .action(async () => {
      const outcome = await withContext((app) => app.get(AuditArchiver).archiveDue(`cli:audit:archive:${Date.now()}`));
      console.log(JSON.stringify(outcome, null, 2));
      if ('skipped' in outcome) process.exitCode = 1;
    });

  program
    .command('audit:archive-verify')
    .description("verify an audit archive file offline against the gateway's JWKS (a file or an https URL); exit code 1 when it fails")
    .argument('<file>', 'the archive file (audit-<first>-<last>.ndjson)')
    .requiredOption('--jwks <file-or-url>', 'the JWKS: a saved /.well-known/jwks.json or its URL')
    .action(async (file: string, opts: { jwks: string }) => {
      const result = await verifyArchiveFile(file, await readJwks(opts.jwks));
      console.log(JSON.stringify(result, null, 2));
      if (!result.ok) process.exitCode = 1;
    });
}

/** No configuration and no database: an auditor can run this anywhere with the file and the public keys. */
async function readJwks(source: string): Promise<{ keys: [] }> {
  try {
    const text = /^https?:\/\//.test(source) ? await (await fetch(source)).text() : await readFile(source, 'utf8');
    const jwks = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array');
    return jwks as { keys: [] };
  } catch (error) {
    throw new CliError(`cannot read the JWKS from ${source}: ${(error as Error).message}`);
  }
}
