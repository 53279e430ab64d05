import { DynamicModule, Module } from '@nestjs/common';

import { AppConfig } from './infra/config/app-config';
import { ConfigModule } from './infra/config/config.module';
import { ProcessRole, runsWorkers, servesHttp } from './infra/config/process-role';
import { CryptoModule } from './infra/crypto/crypto.module';
import { DatabaseModule } from './infra/database/database.module';
import { HttpConventionsModule } from './infra/http/http-conventions.module';
import { IdempotencyModule } from './infra/http/idempotency/idempotency.module';
import { LoggingModule } from './infra/logging/logging.module';
import { MetricsModule } from './infra/metrics/metrics.module';
import { OpsModule } from './infra/ops/ops.module';
import { OutboxModule } from './infra/outbox/outbox.module';
import { QueuesModule } from './infra/queues/queues.module';
import { RedisModule } from './infra/queues/redis.module';
import { WorkerModule } from './infra/worker/worker.module';
import { BUSINESS_MODULES } from './modules';

export type { ProcessRole } from './infra/config/process-role';
export { PROCESS_ROLES } from './infra/config/process-role';

/** The application of one process role (see process-role.ts): infrastructure, business modules, then role-specific parts. */
@Module({})
export class AppModule {
  static forRole(role: ProcessRole, config: AppConfig): DynamicModule {
    const serves = servesHttp(role);
    const works = runsWorkers(role);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config, role),
        CryptoModule,
        LoggingModule,
        MetricsModule,
        DatabaseModule,
        RedisModule,
        QueuesModule,
        OutboxModule,
        IdempotencyModule,
        ...BUSINESS_MODULES,
        ...(serves ? [HttpConventionsModule, OpsModule.forRoot(config)] : []),
        ...(works ? [WorkerModule] : []),
      ],
    };
  }
}
