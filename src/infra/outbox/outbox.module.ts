import { Global, Module } from '@nestjs/common';
import { OutboxProbe } from './outbox-probe';
import { OutboxRelay } from './outbox.relay';
import { OutboxService } from './outbox.service';

@Global()
@Module({ providers: [OutboxService, OutboxRelay, OutboxProbe], exports: [OutboxService, OutboxRelay, OutboxProbe] })
export class OutboxModule {}
