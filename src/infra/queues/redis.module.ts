import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';

import { AppConfigService } from '../config/app-config';
import { redisOptions } from './redis-connection';

/** The shared ioredis client for non-queue uses (rate limits, replay caches, readiness). */
export const REDIS = Symbol('REDIS');

class RedisShutdown implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown() {
    this.redis.disconnect();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [AppConfigService],
      // Commands fail after one reconnect attempt while Redis is down instead of waiting forever.
      useFactory: (config: AppConfigService) => new Redis(redisOptions(config.values.redisUrl, { maxRetriesPerRequest: 1 })),
    },
    RedisShutdown,
  ],
  exports: [REDIS],
})
export class RedisModule {}
