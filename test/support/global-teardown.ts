import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';

import { MYSQL_SERVER_URL, REDIS_SERVER_URL } from './test-env';

/** Drops this run's database and Redis keys, unless KEEP_TEST_STATE is set for a post-mortem. */
export default async function globalTeardown() {
  if (process.env.KEEP_TEST_STATE) return;
  const database = new URL(process.env.DATABASE_URL!).pathname.slice(1);
  const server = await mysql.createConnection({ uri: MYSQL_SERVER_URL });
  await server.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await server.end();
  const redis = new Redis(REDIS_SERVER_URL);
  await deleteKeys(redis, `${process.env.REDIS_PREFIX}*`);
  redis.disconnect();
}

export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
