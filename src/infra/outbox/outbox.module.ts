import { Global, Module } from '@nestjs/common';

import { OutboxRelay } from './outbox.relay';
import { OutboxService } from './outbox.service';
import { OutboxProbe } from './outbox-probe';
import { OutboxPurge } from './outbox-purge.handler';

@Global()
@Module({ providers: [OutboxService, OutboxRelay, OutboxProbe, OutboxPurge], exports: [OutboxService, OutboxRelay, OutboxProbe] })
export class OutboxModule {}
