import { Global, Module } from '@nestjs/common';

import { OutboxRelay } from './outbox.relay';
import { OutboxService } from './outbox.service';
import { OutboxProbe } from './outbox-probe';

@Global()
@Module({ providers: [OutboxService, OutboxRelay, OutboxProbe], exports: [OutboxService, OutboxRelay, OutboxProbe] })
export class OutboxModule {}
