import { Command } from 'commander';

import { closeLegacyCeilings } from '../../infra/database/legacy-public-ids';
import { cliConfig, CliError, withDataSource } from '../cli-context';

/**
 * `public-ids:close-legacy`: after upgrading to opaque public ids, once no copy of the previous version runs, records
 * the highest keys now as the last ones numeric ids may name (see legacy-public-ids.ts). Runs once.
 */
export function register(program: Command): void {
  program
    .command('public-ids:close-legacy')
    .description('after the upgrade to opaque ids, once no old copy runs: let the numeric ids they handed out resolve (once)')
    .action(async () => {
      const ceilings = await withDataSource(cliConfig(), closeLegacyCeilings);
      if (!ceilings) throw new CliError('The legacy public id ceilings were closed already; they are not raised again.');
      console.log(JSON.stringify(ceilings));
    });
}
