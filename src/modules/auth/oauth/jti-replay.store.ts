import { createHash } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';

import { AppConfigService } from '../../../infra/config/app-config';
import { REDIS } from '../../../infra/queues/redis.module';
import { RedisClient } from '../../../infra/queues/redis-connection';

/**
 * Remembers every client-assertion jti until the assertion expires, shared by every api instance: SET NX wins for
 * exactly one request, however many race with the same assertion.
 */
@Injectable()
export class JtiReplayStore {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfigService,
  ) {}

  /** True the first time (clientId, jti) is seen; false for a replay. */
  async firstUse(clientId: string, jti: string, expiresAt: number, skewSeconds: number): Promise<boolean> {
    // Hashed: a jti is client-chosen text of any length.
    const digest = createHash('sha256').update(`${clientId}\n${jti}`).digest('hex');
    const key = `${this.config.values.redisPrefix}:oauth:jti:${digest}`;
    const ttlMs = Math.max(1000, expiresAt * 1000 - Date.now() + skewSeconds * 1000);
    return (await this.redis.set(key, '1', 'PX', ttlMs, 'NX')) === 'OK';
  }
}
