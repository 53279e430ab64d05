import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

import { PROCESS_ROLE, ProcessRole, runsWorkers } from '../../infra/config/process-role';
import { PollingLoop } from '../../infra/worker/polling-loop';
import { AuditChainer, CHAIN_BATCH_SIZE } from './audit-chainer.service';

/** Pause between polls when the inbox was empty; a full batch is followed at once by the next. */
export const CHAIN_IDLE_MS = 100;

/**
 * Runs the chainer continuously in the worker role (like OutboxPump). Every worker runs one; the head row lock
 * lets exactly one of them chain at a time, so a worker dying mid-batch only rolls its batch back.
 */
@Injectable()
export class AuditChainPump implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly loop = new PollingLoop('audit-chain', new Logger(AuditChainPump.name));

  constructor(
    private readonly chainer: AuditChainer,
    @Inject(PROCESS_ROLE) private readonly role: ProcessRole,
  ) {}

  onApplicationBootstrap() {
    if (!runsWorkers(this.role)) return;
    this.loop.start(CHAIN_IDLE_MS, async () => (await this.chainer.chainBatch(CHAIN_BATCH_SIZE)) === CHAIN_BATCH_SIZE);
  }

  // Stops before the database pool closes, so no batch runs on a closed pool.
  async onModuleDestroy() {
    await this.loop.stop();
  }
}
