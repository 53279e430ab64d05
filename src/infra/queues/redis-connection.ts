import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { RedisOptions } from 'ioredis';

/** ioredis options from REDIS_URL; BullMQ needs `maxRetriesPerRequest: null` for blocking worker connections. */
export function redisOptions(redisUrl: string, extra: Partial<RedisOptions> = {}): RedisOptions {
  const u = new URL(redisUrl);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
    ...extra,
  };
}

/** The same connection in BullMQ's own option type (its typings differ from ioredis's in details). */
export function bullConnection(redisUrl: string): BullRedisOptions {
  const { host, port, db, username, password, tls } = redisOptions(redisUrl);
  return { host, port, db, username, password, tls, maxRetriesPerRequest: null };
}
