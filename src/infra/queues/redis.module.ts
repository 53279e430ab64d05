import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';

import { AppConfigService } from '../config/app-config';
import { bullConnection, createRedisClient, RedisClient, releaseBullConnection } from './redis-connection';

/** The shared ioredis client (single or cluster) for non-queue uses (replay caches, push lanes, readiness). */
export const REDIS = Symbol('REDIS');
/** BullMQ's connection for every queue and worker of the process (redis-connection.ts bullConnection). */
export const BULL_CONNECTION = Symbol('BULL_CONNECTION');

class RedisShutdown implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(BULL_CONNECTION) private readonly bull: ConnectionOptions,
  ) {}
  async onApplicationShutdown() {
    this.redis.disconnect();
    releaseBullConnection(this.bull);
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [AppConfigService],
      // Commands fail after one reconnect attempt while Redis is down instead of waiting forever.
      useFactory: (config: AppConfigService) => createRedisClient(config.values, { maxRetriesPerRequest: 1 }),
    },
    { provide: BULL_CONNECTION, inject: [AppConfigService], useFactory: (config: AppConfigService) => bullConnection(config.values) },
    RedisShutdown,
  ],
  exports: [REDIS, BULL_CONNECTION],
})
export class RedisModule {}
