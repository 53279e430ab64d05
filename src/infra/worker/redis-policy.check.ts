import { Inject, Injectable, Logger } from '@nestjs/common';
import Redis from 'ioredis';

import { AppConfigService } from '../config/app-config';
import { REDIS } from '../queues/redis.module';

/**
 * An evicting Redis silently drops queued jobs under memory pressure. The worker refuses to start on one
 * unless configuration allows it (development only).
 */
@Injectable()
export class RedisPolicyCheck {
  private readonly logger = new Logger(RedisPolicyCheck.name);

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly config: AppConfigService,
  ) {}

  async assertSafe(): Promise<void> {
    let policy: string | undefined;
    try {
      const reply = (await this.redis.config('GET', 'maxmemory-policy')) as string[];
      policy = reply[1];
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
