import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConfigurationError, loadConfig, maskedConfig } from '../../src/infra/config/load-config';

/** A complete, valid test environment; each case changes one thing. NODE_ENV=test never generates secrets on disk. */
const validEnv = (): NodeJS.ProcessEnv => ({
  NODE_ENV: 'test',
  DATABASE_URL: 'mysql://root@127.0.0.1:3306/rg_config_spec',
  REDIS_URL: 'redis://127.0.0.1:6379/0',
  MASTER_KEY: randomBytes(32).toString('base64'),
  PLATFORM_JWT_SECRET: randomBytes(32).toString('base64url'),
});

function problemsOf(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as ConfigurationError).message;
  }
  throw new Error('loadConfig accepted an invalid configuration');
}

describe('loadConfig', () => {
  it('layers config/default.json, config/<NODE_ENV>.json and the environment', () => {
    const config = loadConfig({ ...validEnv(), PORT: '4100', BULL_BOARD: 'true', OUTBOX_BATCH_SIZE: '50' });
    expect(config.port).toBe(4100);
    expect(config.ops.bullBoard).toBe(true);
    expect(config.outbox.batchSize).toBe(50);
    expect(config.logLevel).toBe('silent'); // from config/test.json
    expect(config.redisPrefix).toBe('{rg}'); // from config/default.json
  });

  it('reads a secret from NAME_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-config-'));
    try {
      const key = randomBytes(32).toString('base64');
      writeFileSync(join(dir, 'master_key'), `${key}\n`);
      const env = { ...validEnv(), MASTER_KEY: undefined, MASTER_KEY_FILE: join(dir, 'master_key') };
      expect(loadConfig(env).masterKey).toBe(key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['MASTER_KEY', { MASTER_KEY: randomBytes(16).toString('base64') }],
    ['PLATFORM_JWT_SECRET', { PLATFORM_JWT_SECRET: 'too-short' }],
    ['DATABASE_URL', { DATABASE_URL: 'postgres://db/x' }],
    ['REDIS_URL', { REDIS_URL: 'not a url' }],
    ['IDEMPOTENCY_TTL_HOURS', { IDEMPOTENCY_TTL_HOURS: '1' }],
    ['BULL_BOARD', { BULL_BOARD: 'maybe' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
  ])('stops on a bad %s, naming the variable', (name, change) => {
    expect(problemsOf({ ...validEnv(), ...change })).toContain(name);
  });

  it('runs the api role as one process unless API_PROCESSES asks for more; auto is one per CPU', () => {
    expect(loadConfig(validEnv()).apiProcesses).toBe(1);
    expect(loadConfig({ ...validEnv(), API_PROCESSES: '4' }).apiProcesses).toBe(4);
    expect(loadConfig({ ...validEnv(), API_PROCESSES: 'auto' }).apiProcesses).toBe(availableParallelism());
  });

  it.each(['0', '-2', '1.5', 'many', 'auto2', '1000'])('refuses API_PROCESSES=%s with a clear message', (value) => {
    const message = problemsOf({ ...validEnv(), API_PROCESSES: value });
    expect(message).toContain('API_PROCESSES (apiProcesses)');
    expect(message).toMatch(value === '1000' ? /at most 256/ : /must be a positive integer or "auto"/);
  });

  describe('REDIS_CLUSTER_NODES', () => {
    const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7001, 127.0.0.1:7002,[::1]:7003' };

    it('is off by default: REDIS_URL alone names the one Redis', () => {
      expect(loadConfig(validEnv()).redis.clusterNodes).toBeUndefined();
    });

    it('reads a comma-separated list of host:port seed nodes', () => {
      expect(loadConfig({ ...validEnv(), ...cluster }).redis.clusterNodes).toEqual([
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '::1', port: 7003 },
      ]);
    });

    it.each(['127.0.0.1', '127.0.0.1:0', 'host:70000', ',', 'a:1,,b:2'])('refuses %p, naming the variable', (nodes) => {
      expect(problemsOf({ ...validEnv(), REDIS_CLUSTER_NODES: nodes })).toContain('REDIS_CLUSTER_NODES (redis.clusterNodes)');
    });

    // BullMQ's scripts touch several keys of a queue at once: on a cluster they must share one hash slot.
    it.each(['rg', 'rg:{}', '{}rg{x}', 'rg:{x'])('refuses the key prefix %p on a cluster: it is not a hash tag', (prefix) => {
      const message = problemsOf({ ...validEnv(), ...cluster, REDIS_PREFIX: prefix });
      expect(message).toContain('REDIS_PREFIX (redisPrefix)');
      expect(message).toContain('hash tag');
    });

    it.each(['{rg}', 'rg-{eu}:', '{rgt-abc}'])('accepts the hash-tagged prefix %p on a cluster', (prefix) => {
      expect(loadConfig({ ...validEnv(), ...cluster, REDIS_PREFIX: prefix }).redisPrefix).toBe(prefix);
    });

    it('refuses a database number other than 0 on a cluster (a cluster has only database 0)', () => {
      expect(problemsOf({ ...validEnv(), ...cluster, REDIS_URL: 'redis://127.0.0.1:6379/3' })).toContain('REDIS_URL (redisUrl)');
    });

    it('keeps a prefix without braces working on a single Redis', () => {
      expect(loadConfig({ ...validEnv(), REDIS_PREFIX: 'rg' }).redisPrefix).toBe('rg');
    });
  });

  it('stops when no platform identity-provider key is configured', () => {
    const message = problemsOf({ ...validEnv(), PLATFORM_JWT_SECRET: undefined });
    expect(message).toContain('PLATFORM_JWT_PUBLIC_KEY');
    expect(message).toContain('PLATFORM_JWT_SECRET');
  });

  it('refuses an HS256 secret and an evicting Redis in production', () => {
    const message = problemsOf({ ...validEnv(), NODE_ENV: 'production', REDIS_ALLOW_EVICTING_POLICY: 'true' });
    expect(message).toContain('PLATFORM_JWT_SECRET');
    expect(message).toContain('REDIS_ALLOW_EVICTING_POLICY');
  });

  describe('NODE_ENV unset or empty means production', () => {
    const productionGrade = () => ({
      ...validEnv(),
      PLATFORM_JWT_SECRET: undefined,
      PLATFORM_JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString(),
      METRICS_TOKEN: randomBytes(32).toString('base64url'),
    });

    it.each([undefined, ''])('NODE_ENV=%p with production-grade settings loads production defaults', (nodeEnv) => {
      const config = loadConfig({ ...productionGrade(), NODE_ENV: nodeEnv });
      expect(config.nodeEnv).toBe('production');
      expect(config.ops.bullBoard).toBe(false);
      expect(config.partners.allowPrivatePushEndpoints).toBe(false);
      expect(config.redis.allowEvictingPolicy).toBe(false);
    });

    it('refuses a development-only setting and says NODE_ENV is not set', () => {
      const message = problemsOf({ ...validEnv(), NODE_ENV: undefined });
      expect(message).toContain('PLATFORM_JWT_SECRET (platformJwt.secret)');
      expect(message).toContain('NODE_ENV is not set, so the production rules apply');
    });

    it('does not add the hint when NODE_ENV=production was asked for', () => {
      expect(problemsOf({ ...validEnv(), NODE_ENV: 'production' })).not.toContain('NODE_ENV is not set');
    });
  });

  it('stops on a missing MASTER_KEY outside development (only development generates its own)', () => {
    expect(problemsOf({ ...validEnv(), MASTER_KEY: undefined })).toContain('MASTER_KEY');
  });

  it('never prints a secret in the masked configuration', () => {
    const env: NodeJS.ProcessEnv = { ...validEnv(), DATABASE_URL: 'mysql://gateway:s3cret-pw@db:3306/rg' };
    const printed = JSON.stringify(maskedConfig(loadConfig(env)));
    for (const secret of [env.MASTER_KEY!, env.PLATFORM_JWT_SECRET!, 's3cret-pw']) expect(printed).not.toContain(secret);
    expect(printed).toContain('mysql://gateway:****@db:3306/rg');
  });
});
