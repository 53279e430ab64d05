import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import { Logger, OnModuleDestroy } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';

import { AppConfig } from '../../config/app-config';
import { createRedisClient, RedisClient } from '../../queues/redis-connection';

type StorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * Rate-limit counters in Redis (one atomic script per hit), under `<redisPrefix>rl:` so they belong to this
 * deployment. When Redis fails the request is let through and the failure logged: the limiter protects capacity,
 * it is not a record of truth, and /health/ready already reports Redis down.
 */
export class RateLimitStorage implements ThrottlerStorage, OnModuleDestroy {
  private readonly logger = new Logger(RateLimitStorage.name);
  private readonly client: RedisClient;
  private readonly redis: ThrottlerStorageRedisService;

  constructor(config: Pick<AppConfig, 'redisUrl' | 'redis' | 'redisPrefix'>) {
    // A connection of its own: ioredis applies keyPrefix to the script's KEYS, which the shared client has no prefix for.
    // Auto-pipelining: every request runs one script here, and the ones issued in the same event-loop turn share one
    // socket write instead of one each (writes are costly on this VM). Each script still runs atomically in Redis, so
    // the limit stays exact across instances.
    // On a cluster the library's two keys share the prefix's hash tag (and its own {key:name} if there were none).
    this.client = createRedisClient(config, { keyPrefix: `${config.redisPrefix}rl:`, maxRetriesPerRequest: 1, enableAutoPipelining: true });
    // It takes a Redis or a Cluster (one overload each), not the union of the two.
    this.redis = new ThrottlerStorageRedisService(this.client as Redis);
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<StorageRecord> {
    try {
      return await this.redis.increment(key, ttl, limit, blockDuration, throttlerName);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'rate limit not enforced: Redis unavailable');
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  onModuleDestroy() {
    // Our client, not the library's: it disconnects only clients it created.
    this.client.disconnect(false);
  }
}
