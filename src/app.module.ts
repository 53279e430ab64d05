import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from './infra/config/app-config';
import { ConfigModule } from './infra/config/config.module';
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

export type ProcessRole = 'api' | 'worker' | 'all';
export const PROCESS_ROLES: ProcessRole[] = ['api', 'worker', 'all'];

/** One codebase, three process roles: api (HTTP), worker (jobs, relay, schedules), all (both, for local runs). */
@Module({})
export class AppModule {
  static forRole(role: ProcessRole, config: AppConfig): DynamicModule {
    const serves = role !== 'worker';
    const works = role !== 'api';
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule,
        MetricsModule,
        DatabaseModule,
        RedisModule,
        QueuesModule,
        OutboxModule,
        IdempotencyModule,
        ...BUSINESS_MODULES,
        ...(serves ? [HttpConventionsModule, OpsModule] : []),
        ...(works ? [WorkerModule] : []),
      ],
    };
  }
}
