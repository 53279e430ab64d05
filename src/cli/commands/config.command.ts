import { Command } from 'commander';

import { maskedConfig } from '../../infra/config/load-config';
import { cliConfig } from '../cli-context';

export function register(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration (defaults, config/<NODE_ENV>.json, environment) with secrets masked')
    .action(() => {
      console.log(JSON.stringify(maskedConfig(cliConfig()), null, 2));
    });
}
