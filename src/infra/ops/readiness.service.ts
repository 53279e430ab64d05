import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';

import { AppConfigService } from '../config/app-config';
import { REDIS } from '../queues/redis.module';
import { assertRedisServes, RedisClient } from '../queues/redis-connection';

/** Each dependency gets this long to answer; a slow dependency is as good as a dead one for a load balancer. */
export const DEPENDENCY_TIMEOUT_MS = 1000;

export type DependencyState = 'up' | 'down';
export interface Readiness {
  ready: boolean;
  checks: { mysql: DependencyState; redis: DependencyState };
}

/**
 * Readiness of this process: MySQL (TypeORM ping) and Redis (PING on the shared client; on a Redis Cluster, the
 * cluster's state and a read in the slot of this deployment's keys, see assertRedisServes).
 * Only up/down per dependency leaves this class: driver messages name hosts and ports, which clients must not see.
 */
@Injectable()
export class ReadinessService {
  constructor(
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfigService,
  ) {}

  async check(): Promise<Readiness> {
    const indicators = [
      () => this.typeorm.pingCheck('mysql').withTimeout(DEPENDENCY_TIMEOUT_MS),
      () =>
        this.indicators
          .check('redis')
          .attempt(() => assertRedisServes(this.redis, this.config.values.redisPrefix))
          .withTimeout(DEPENDENCY_TIMEOUT_MS),
    ];
    try {
      const result = await this.health.check(indicators);
      return { ready: true, checks: { mysql: stateOf(result.details, 'mysql'), redis: stateOf(result.details, 'redis') } };
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const details = (error.getResponse() as { details?: Record<string, { status?: string }> }).details ?? {};
      return { ready: false, checks: { mysql: stateOf(details, 'mysql'), redis: stateOf(details, 'redis') } };
    }
  }
}

const stateOf = (details: Record<string, { status?: string }> | undefined, key: string): DependencyState =>
  details?.[key]?.status === 'up' ? 'up' : 'down';
