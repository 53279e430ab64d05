import Redis from 'ioredis';

import { configurePublicIdsWith } from '../../src/infra/crypto/crypto.service';

/**
 * CLI commands under test report failure through process.exitCode, and the whole suite runs in one process
 * (--runInBand): a code left by one test must neither fail another test's check nor become jest's own exit code.
 */
beforeEach(() => {
  process.exitCode = undefined;
});
afterEach(() => {
  process.exitCode = undefined;
});

/**
 * Test code makes and reads public ids too (fixtures written with SQL, checks of stored rows): the codec gets the
 * subkey CryptoService gives it in the app, from the run's MASTER_KEY.
 */
if (process.env.MASTER_KEY) configurePublicIdsWith(process.env.MASTER_KEY);

/**
 * Every spec file starts with a fresh anonymous-failure budget for 127.0.0.1 (the address of every inject): the
 * budget (60 a minute, kept in the test configuration too) is per address, and the suite's files would otherwise
 * spend it together, so a fast run would refuse a later file's valid requests with 429.
 */
beforeAll(async () => {
  if (!process.env.REDIS_URL || !process.env.REDIS_PREFIX) return;
  const redis = new Redis(process.env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${process.env.REDIS_PREFIX}rl:anon:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
});
