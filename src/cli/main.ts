import 'reflect-metadata';

import { Command } from 'commander';

import { ConfigurationError } from '../infra/config/load-config';
import { CliError } from './cli-context';
import { COMMANDS } from './commands';

/** The operator CLI: `npm run cli -- <command>` (`node dist/src/cli/main.js`). */
export function buildProgram(): Command {
  const program = new Command()
    .name('cli')
    .description('Referral gateway operator commands (configuration comes from config/ and the environment, as for the gateway)')
    .showHelpAfterError();
  for (const command of COMMANDS) command.register(program);
  return program;
}

/** Configuration and operator mistakes print one clear message; anything else also says it is unexpected. */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof ConfigurationError) {
      console.error(error.message);
      return 78; // EX_CONFIG, as the gateway itself
    }
    if (error instanceof CliError) {
      console.error(`error: ${error.message}`);
      return error.exitCode;
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv).then((code) => {
    process.exitCode = code;
  });
}
