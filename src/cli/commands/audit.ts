import { INestApplicationContext } from '@nestjs/common';
import { Command, InvalidArgumentError } from 'commander';

import { loadConfig } from '../../infra/config/load-config';
import { AuditChainer } from '../../modules/audit/audit-chainer.service';
import { AuditCheckpointer } from '../../modules/audit/audit-checkpoint.service';
import { AuditVerifier } from '../../modules/audit/audit-verifier.service';
import { createTrustCoreContext } from '../../modules/signing/trust-core.context';

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
}
