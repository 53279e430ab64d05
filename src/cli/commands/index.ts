import { Command } from 'commander';

import * as audit from './audit';
import * as config from './config.command';
import * as creditRecords from './credit-records';
import * as keys from './keys';
import * as migrate from './migrate.command';
import * as outboxProbe from './outbox-probe.command';
import * as outboxRetry from './outbox-retry.command';
import * as outboxStatus from './outbox-status.command';
import * as overdue from './overdue';
import * as prescreen from './prescreen';
import * as publicIds from './public-ids.command';
import * as token from './token.command';

/** Every operator command. A new command is a file exporting `register(program)`, added to this list. */
export const COMMANDS: Array<{ register(program: Command): void }> = [
  migrate,
  config,
  token,
  outboxStatus,
  outboxProbe,
  outboxRetry,
  keys,
  audit,
  creditRecords,
  prescreen,
  overdue,
  publicIds,
];
