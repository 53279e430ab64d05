import { randomBytes } from 'node:crypto';

/** Where a test run's MySQL and Redis live; override with TEST_MYSQL_URL / TEST_REDIS_URL. */
export const MYSQL_SERVER_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
export const REDIS_SERVER_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** Everything a run needs to be isolated from every other run sharing the same servers. */
export function newRunEnvironment(): Record<string, string> {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return {
    NODE_ENV: 'test',
    TEST_RUN_ID: runId,
    DATABASE_URL: `${MYSQL_SERVER_URL}/rg_test_${runId}`,
    REDIS_URL: REDIS_SERVER_URL,
    REDIS_PREFIX: `{rgt-${runId}}`,
    PUBLIC_BASE_URL: 'http://gateway.test',
    MASTER_KEY: randomBytes(32).toString('base64'),
    PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url'),
    PLATFORM_JWT_ISSUER: 'https://id.platform.test',
    PLATFORM_JWT_AUDIENCE: 'referral-gateway',
    METRICS_TOKEN: randomBytes(32).toString('base64url'),
  };
}
