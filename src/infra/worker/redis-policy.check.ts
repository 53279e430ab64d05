import { Inject, Injectable, Logger } from '@nestjs/common';

import { AppConfigService } from '../config/app-config';
import { REDIS } from '../queues/redis.module';
import { primaries, RedisClient } from '../queues/redis-connection';

/**
 * An evicting Redis silently drops queued jobs under memory pressure. The worker refuses to start on one
 * unless configuration allows it (development only). On a Redis Cluster every master is asked: any may hold the queues.
 */
@Injectable()
export class RedisPolicyCheck {
  private readonly logger = new Logger(RedisPolicyCheck.name);

  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfigService,
  ) {}

  async assertSafe(): Promise<void> {
    let policy: string | undefined;
    try {
      for (const node of await primaries(this.redis)) {
        const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
        policy = reply[1];
        if (policy !== 'noeviction') break;
      }
    } catch (error) {
      // Managed Redis often disables CONFIG; say so rather than guess.
      this.logger.warn({ err: (error as Error).message }, 'cannot read Redis maxmemory-policy; make sure it is noeviction');
      return;
    }
    if (policy === 'noeviction') return;
    const message = `Redis maxmemory-policy is "${policy}"; BullMQ needs "noeviction" or jobs may be lost (set REDIS_ALLOW_EVICTING_POLICY=true to override in development)`;
    if (this.config.values.redis.allowEvictingPolicy) this.logger.warn(message);
    else throw new Error(message);
  }
}
