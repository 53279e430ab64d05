import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { BullBoardModule, BullBoardServerAdapter } from '@bull-board/nestjs';
import { DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { AppConfig } from '../config/app-config';
import { QUEUE_NAMES } from '../queues/job-catalogue';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { OpsMetrics } from './ops-metrics';
import { ReadinessService } from './readiness.service';

export const BULL_BOARD_ROUTE = '/admin/queues';

/**
 * @bull-board/fastify 9.10.1 pins its own copy of @bull-board/api (9.10.1) next to ours (9.10.2); the two copies'
 * private fields make the types disagree although the runtime contract (setQueues, setBasePath, registerPlugin) is the same.
 */
const BullBoardFastifyAdapter = FastifyAdapter as unknown as new () => BullBoardServerAdapter;

/**
 * Operations surface of the api role: /health/live, /health/ready, /metrics, and Bull Board at /admin/queues
 * with every queue of the job catalogue when `ops.bullBoard` is on (development only until operators authenticate).
 */
@Module({})
export class OpsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const bullBoard = config.ops.bullBoard
      ? [
          BullBoardModule.forRoot({ route: BULL_BOARD_ROUTE, adapter: BullBoardFastifyAdapter }),
          ...QUEUE_NAMES.map((name) => BullBoardModule.forFeature({ name, adapter: BullMQAdapter })),
        ]
      : [];
    return {
      module: OpsModule,
      imports: [TerminusModule.forRoot({ errorLogStyle: 'json' }), ...bullBoard],
      controllers: [HealthController, MetricsController],
      providers: [ReadinessService, OpsMetrics],
    };
  }
}
