import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';

import { z } from 'zod';

const masterKey = z.string().refine((v) => Buffer.from(v, 'base64').length === 32, 'must be a base64-encoded 32-byte key');

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL with scheme ${protocols.join(' or ')}`,
  );

/** Environment values arrive as text: "false" must mean false, which a plain boolean coercion gets wrong. */
const flag = z.preprocess((v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v), z.boolean());

/**
 * How many processes serve the api role: a positive integer, or `auto` for one per CPU the process may use.
 * `auto` is resolved here, so `cli config` prints the number the supervisor will start.
 */
const processCount = z.preprocess(
  (v) => (v === 'auto' ? availableParallelism() : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'must be a positive integer or "auto" (one process per CPU)' })
    .int('must be a positive integer or "auto" (one process per CPU)')
    .min(1, 'must be a positive integer or "auto" (one process per CPU)')
    .max(256, 'must be at most 256'),
);

/** One `host:port` (IPv6 in brackets) of a Redis Cluster seed list; ioredis finds the other nodes from any one. */
const CLUSTER_NODE = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:,[\]]+)):(\d{1,5})$/;

export interface ClusterNode {
  host: string;
  port: number;
}

const CLUSTER_NODES_MESSAGE = 'must be a comma-separated list of host:port (e.g. 10.0.0.1:6379,10.0.0.2:6379)';

/** REDIS_CLUSTER_NODES: `host:port,host:port,...`, or an array of {host, port} from a config file. */
const clusterNodes = z.unknown().transform((v, ctx): ClusterNode[] => {
  const entries = typeof v === 'string' ? v.split(',') : v;
  const nodes = Array.isArray(entries)
    ? entries.map((e): ClusterNode | undefined => {
        if (e && typeof e === 'object') return e as ClusterNode;
        const m = typeof e === 'string' ? CLUSTER_NODE.exec(e.trim()) : null;
        return m ? { host: m[1] ?? m[2], port: Number(m[3]) } : undefined;
      })
    : [];
  const valid = (n: ClusterNode | undefined): n is ClusterNode =>
    !!n && typeof n.host === 'string' && n.host !== '' && Number.isInteger(n.port) && n.port >= 1 && n.port <= 65535;
  if (nodes.length > 0 && nodes.every(valid)) return nodes.map(({ host, port }) => ({ host, port }));
  ctx.addIssue({ code: 'custom', message: CLUSTER_NODES_MESSAGE });
  return z.NEVER;
});

/**
 * Redis's own rule (cluster spec, "hash tags"): the text between the first `{` and the next `}`, if not empty, is what
 * a key is hashed by. A prefix holding a whole tag puts every key of the deployment in one slot.
 */
export const isHashTagged = (prefix: string) => /^[^{]*\{[^}]+\}/.test(prefix);

/** 5 or 6 cron fields (seconds optional) of the characters cron patterns use; BullMQ parses it when scheduling. */
const CRON = /^(\S+\s+){4,5}\S+$/;

/** proxy-addr's named ranges (127.0.0.0/8 and ::1; link-local; unique-local and RFC 1918), handy for a local proxy. */
const NAMED_PROXY_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

/** One trusted proxy: an IPv4 or IPv6 address, a CIDR range, or one of proxy-addr's named ranges. */
function isProxyAddress(entry: string): boolean {
  if (NAMED_PROXY_RANGES.includes(entry)) return true;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/**
 * Which hops may tell the client's address in X-Forwarded-For: `false` (none: the socket address is the client's),
 * a hop count, or the proxies' addresses/CIDRs. `true` (trust every hop) is refused: any client could then choose its
 * own address, escaping per-address limits and forging `clientIp` in the audit trail.
 */
const trustProxy = z.unknown().transform((v, ctx): false | number | string[] => {
  if (v === false || v === 'false' || v === 0 || v === '0') return false;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 32) return v;
  if (typeof v === 'string' && /^\s*\d+\s*$/.test(v) && Number(v) <= 32) return Number(v);
  const entries = typeof v === 'string' ? v.split(',').map((entry) => entry.trim()) : v;
  if (Array.isArray(entries) && entries.length && entries.every((e) => typeof e === 'string' && isProxyAddress(e))) return entries;
  const refused = v === true || v === 'true' ? ' (true would let any client choose its own address)' : '';
  ctx.addIssue({
    code: 'custom',
    message: `must be false, a hop count (1-32), or a comma-separated list of proxy addresses or CIDR ranges${refused}`,
  });
  return z.NEVER;
});

/** The whole configuration of the gateway; every value is validated before any module starts. */
export const appConfigSchema = z
  .object({
    nodeEnv: z.enum(['development', 'test', 'production']),
    port: z.coerce.number().int().min(1).max(65535),
    /** Processes of the api role on this host (node:cluster, sharing `port`); 1 = today's single process. Other roles ignore it. */
    apiProcesses: processCount,
    publicBaseUrl: url(['http:', 'https:']),
    databaseUrl: url(['mysql:']),
    /** MySQL connections per process: requests beyond it queue for a connection, which is where latency hides. */
    databasePoolSize: z.coerce.number().int().min(1).max(500),
    /** Longest wait for a free pooled connection; past it the request is answered 503 with retry-after, not left hanging. */
    databasePoolAcquireTimeoutMs: z.coerce.number().int().min(100).max(600_000),
    redisUrl: url(['redis:', 'rediss:']),
    /** Prefix of every Redis key of this deployment (BullMQ, rate limits, replay caches); braces make it a Redis Cluster hash tag. */
    redisPrefix: z.string().min(1).max(64),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    masterKey,
    platformJwt: z.object({
      issuer: z.string().min(1),
      audience: z.string().min(1),
      publicKey: z.string().includes('-----BEGIN').optional(),
      secret: z.string().min(32, 'must be at least 32 characters').optional(),
      /** Longest accepted `exp - iat`: a leaked bearer token is worth at most this long. */
      maxLifetimeSeconds: z.coerce.number().int().min(60).max(86_400),
    }),
    redis: z.object({
      allowEvictingPolicy: flag,
      /** Seed nodes of a Redis Cluster; when set, REDIS_URL gives only credentials and TLS (see redis-connection.ts). */
      clusterNodes: clusterNodes.optional(),
    }),
    http: z.object({
      trustProxy,
      rateLimit: z.object({
        limit: z.coerce.number().int().positive(),
        windowSeconds: z.coerce.number().int().positive(),
      }),
      /**
       * Failed requests of callers without a credential, per client address, before authentication
       * (rate-limit/anonymous-limit.ts). Kept in every environment: config/test.json must not raise it.
       */
      anonymousRateLimit: z.object({
        limit: z.coerce.number().int().min(1).max(100_000),
        windowSeconds: z.coerce.number().int().min(1).max(3600),
      }),
      idempotencyTtlHours: z.coerce.number().int().min(24, 'must be at least 24 (API.md keeps keys 24 h)'),
      /**
       * Largest answer an Idempotency-Key keeps for replay (bytes of the body). A larger one is sent but not kept; the
       * same key then answers 409 idempotency-key-answer-not-kept. At most 8 MiB: the escaped body must fit MySQL's
       * default 16 MiB max_allowed_packet (escaping can double JSON text) and the MEDIUMTEXT column.
       */
      idempotencyMaxAnswerBytes: z.coerce
        .number()
        .int()
        .min(1024, 'must be at least 1024')
        .max(8 * 1024 * 1024, 'must be at most 8388608 (the escaped answer must fit a 16 MiB max_allowed_packet)')
        .default(4 * 1024 * 1024),
    }),
    /**
     * Lines one request to a bulk endpoint may hold (NDJSON lines, JSON array elements, decision file lines; blank
     * ones not counted); more is a 413 before any line is applied. Each line gets its own answer, so this bounds the
     * answer and the memory behind it (docs/BULK.md).
     */
    bulk: z
      .object({
        maxLines: z.coerce.number().int().min(1).max(100_000, 'must be at most 100000 (each line is answered on its own)').default(10_000),
      })
      .prefault({}),
    outbox: z.object({
      relayIntervalMs: z.coerce.number().int().min(10),
      batchSize: z.coerce.number().int().min(1).max(5000),
      sweepIntervalMs: z.coerce.number().int().min(100),
      sweepAfterSeconds: z.coerce.number().int().min(1),
      /**
       * Bound on each Redis call of the relay and sweeper: neither holds a transaction while it waits, and a Redis
       * outage fails the step after this long instead of hanging it (and SIGTERM behind it).
       */
      redisTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(5_000),
      /** DONE rows are purged after this many hours (maintenance/outbox.purge); FAILED and PARKED rows are kept. */
      retentionHours: z.coerce
        .number()
        .int()
        .min(1)
        .default(7 * 24),
    }),
    ops: z.object({
      bullBoard: flag,
      /** Bearer token of the Prometheus scraper on /metrics (api and worker); required in production. */
      metricsToken: z.string().min(32, 'must be at least 32 characters').optional(),
    }),
    /** Lets development register plain-http or private-network push endpoints (the SSRF check is off). */
    partners: z.object({ allowPrivatePushEndpoints: flag.default(false) }).default({ allowPrivatePushEndpoints: false }),
    /** Anti-fraud limits on POST /v1/me/applications (docs/DECISIONS.md): refused with a reason code and audited. */
    applications: z
      .object({
        /** Most applications one user may submit within velocityWindowHours. */
        velocityLimit: z.coerce.number().int().min(1).default(5),
        velocityWindowHours: z.coerce.number().int().min(1).default(24),
        /** Most platform accounts sharing one identity (national id) that may apply. */
        maxAccountsPerIdentity: z.coerce.number().int().min(1).default(1),
      })
      .default({ velocityLimit: 5, velocityWindowHours: 24, maxAccountsPerIdentity: 1 }),
    /**
     * Partner event feed: the RFC 8935 push retry schedule (delay before each retry; the default covers more than 24 h),
     * the push request timeout, and how long a poll without returnImmediately waits for an event.
     */
    events: z
      .object({
        pushRetryDelaysMs: z
          .preprocess(
            (v) => (typeof v === 'string' ? v.split(',').map((d) => Number(d.trim())) : v),
            z.array(z.number().int().min(1)).min(1).max(20),
          )
          .default([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]),
        pushTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(10_000),
        pollMaxWaitMs: z.coerce.number().int().min(0).max(30_000).default(10_000),
        /** Pushes in flight to one partner at once, across every worker (docs/RELIABILITY.md "Partner push lanes"). */
        laneConcurrency: z.coerce.number().int().min(1).max(64).default(2),
        /** How long a push waits (± half, at random) before looking again when its partner's lane is full. */
        laneRetryMs: z.coerce.number().int().min(10).max(60_000).default(1_000),
        /** Consecutive failed pushes (timeout, network error, non-2xx but 400) to one partner that open its circuit. */
        circuitFailures: z.coerce.number().int().min(1).max(1000).default(5),
        /** How long an open circuit defers that partner's pushes before one probe; doubles after each failed probe. */
        circuitCooldownMs: z.coerce.number().int().min(10).max(3_600_000).default(60_000),
        circuitMaxCooldownMs: z.coerce.number().int().min(10).max(86_400_000).default(900_000),
      })
      .prefault({})
      .refine((e) => e.circuitMaxCooldownMs >= e.circuitCooldownMs, {
        message: 'must be at least PUSH_CIRCUIT_COOLDOWN_MS',
        path: ['circuitMaxCooldownMs'],
      }),
    /**
     * Decision SLA (docs/DECISIONS.md): grace after a referral's SLA before it expires, and the length of one SLA
     * hour in ms — 3,600,000 in production; tests shorten it so an SLA in whole hours runs out in milliseconds.
     */
    referrals: z
      .object({
        slaGraceHours: z.coerce.number().int().min(0).max(8760).default(24),
        slaHourMs: z.coerce.number().int().min(1).max(3_600_000).default(3_600_000),
      })
      .prefault({}),
    /**
     * Overdue sharing (docs/OVERDUE.md): the daily scan's schedule, a cron pattern evaluated in UTC for the current
     * date, or `off` (scans then run only on demand).
     */
    overdue: z
      .object({
        scanCron: z
          .string()
          .trim()
          .refine((v) => v === 'off' || CRON.test(v), 'must be a cron pattern of 5 or 6 fields (UTC), or "off"')
          .default('0 2 * * *'),
      })
      .prefault({}),
    /**
     * Audit retention (docs/AUDIT.md): entries older than retentionDays are archived, a closed segment at a time, as a
     * signed NDJSON file into archiveDir, then removed from the chain. Without archiveDir nothing is ever removed.
     */
    audit: z
      .object({
        retentionDays: z.coerce.number().int().min(1).max(36_500).default(1825),
        archiveDir: z.string().trim().min(1).optional(),
        /** Exports streaming at once per api process: each holds a pooled connection until its last row. */
        exportConcurrency: z.coerce.number().int().min(1).max(32).default(2),
      })
      .prefault({}),
    worker: z.object({
      concurrency: z.coerce.number().int().min(1).max(256),
      /** How long a job's lock lives without renewal: a killed worker's job is taken over after about this long. */
      lockDurationMs: z.coerce.number().int().min(1000),
      /** Port of the worker role's own /metrics (0 = off). */
      metricsPort: z.coerce.number().int().min(0).max(65535),
      /** Multiplies every retry delay of the job retry policies (src/infra/queues/retry-policies.ts); tests shrink it. */
      retryDelayScale: z.coerce.number().gt(0).max(1),
      /** How often the worker checks that the periodic schedules still exist in Redis and restores missing ones. */
      scheduleWatchIntervalMs: z.coerce.number().int().min(100),
    }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const { publicKey, secret } = c.platformJwt;
    if (!publicKey && !secret) {
      ctx.addIssue({
        code: 'custom',
        path: ['platformJwt', 'publicKey'],
        message: 'one of PLATFORM_JWT_PUBLIC_KEY or PLATFORM_JWT_SECRET is required',
      });
    }
    if (c.nodeEnv === 'production' && secret) {
      ctx.addIssue({
        code: 'custom',
        path: ['platformJwt', 'secret'],
        message: 'an HS256 secret is accepted only in development and test; use PLATFORM_JWT_PUBLIC_KEY',
      });
    }
    if (c.nodeEnv === 'production' && c.partners.allowPrivatePushEndpoints) {
      ctx.addIssue({ code: 'custom', path: ['partners', 'allowPrivatePushEndpoints'], message: 'is development-only' });
    }
    if (c.nodeEnv === 'production' && c.referrals.slaHourMs !== 3_600_000) {
      ctx.addIssue({ code: 'custom', path: ['referrals', 'slaHourMs'], message: 'a shortened SLA hour is development- and test-only' });
    }
    if (c.nodeEnv === 'production' && !c.ops.metricsToken) {
      ctx.addIssue({ code: 'custom', path: ['ops', 'metricsToken'], message: "is required in production (the scraper's bearer token)" });
    }
    if (c.redis.clusterNodes && !isHashTagged(c.redisPrefix)) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisPrefix'],
        message: `must hold a Redis Cluster hash tag such as {rg} when REDIS_CLUSTER_NODES is set: BullMQ's scripts use several keys of a queue at once, which a cluster allows only within one slot`,
      });
    }
    if (c.redis.clusterNodes && !/^\/?0?$/.test(new URL(c.redisUrl).pathname)) {
      ctx.addIssue({
        code: 'custom',
        path: ['redisUrl'],
        message: 'must name database 0 (or none) when REDIS_CLUSTER_NODES is set: a cluster has only database 0',
      });
    }
    if (c.nodeEnv === 'production' && c.redis.allowEvictingPolicy) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'allowEvictingPolicy'], message: 'is development-only' });
    }
  });

export type AppConfig = z.infer<typeof appConfigSchema>;

/** Environment variables and the configuration path each one overrides. */
export const ENVIRONMENT_VARIABLES: Record<string, string> = {
  NODE_ENV: 'nodeEnv',
  PORT: 'port',
  API_PROCESSES: 'apiProcesses',
  PUBLIC_BASE_URL: 'publicBaseUrl',
  DATABASE_URL: 'databaseUrl',
  DATABASE_POOL_SIZE: 'databasePoolSize',
  DATABASE_POOL_ACQUIRE_TIMEOUT_MS: 'databasePoolAcquireTimeoutMs',
  REDIS_URL: 'redisUrl',
  REDIS_PREFIX: 'redisPrefix',
  LOG_LEVEL: 'logLevel',
  MASTER_KEY: 'masterKey',
  PLATFORM_JWT_ISSUER: 'platformJwt.issuer',
  PLATFORM_JWT_AUDIENCE: 'platformJwt.audience',
  PLATFORM_JWT_PUBLIC_KEY: 'platformJwt.publicKey',
  PLATFORM_JWT_SECRET: 'platformJwt.secret',
  PLATFORM_JWT_MAX_LIFETIME_SECONDS: 'platformJwt.maxLifetimeSeconds',
  REDIS_ALLOW_EVICTING_POLICY: 'redis.allowEvictingPolicy',
  REDIS_CLUSTER_NODES: 'redis.clusterNodes',
  TRUST_PROXY: 'http.trustProxy',
  RATE_LIMIT: 'http.rateLimit.limit',
  RATE_LIMIT_WINDOW_SECONDS: 'http.rateLimit.windowSeconds',
  ANONYMOUS_RATE_LIMIT: 'http.anonymousRateLimit.limit',
  ANONYMOUS_RATE_LIMIT_WINDOW_SECONDS: 'http.anonymousRateLimit.windowSeconds',
  IDEMPOTENCY_TTL_HOURS: 'http.idempotencyTtlHours',
  IDEMPOTENCY_MAX_ANSWER_BYTES: 'http.idempotencyMaxAnswerBytes',
  BULK_MAX_LINES: 'bulk.maxLines',
  OUTBOX_RELAY_INTERVAL_MS: 'outbox.relayIntervalMs',
  OUTBOX_BATCH_SIZE: 'outbox.batchSize',
  OUTBOX_SWEEP_INTERVAL_MS: 'outbox.sweepIntervalMs',
  OUTBOX_SWEEP_AFTER_SECONDS: 'outbox.sweepAfterSeconds',
  OUTBOX_REDIS_TIMEOUT_MS: 'outbox.redisTimeoutMs',
  OUTBOX_RETENTION_HOURS: 'outbox.retentionHours',
  BULL_BOARD: 'ops.bullBoard',
  METRICS_TOKEN: 'ops.metricsToken',
  PUSH_ALLOW_PRIVATE_ENDPOINTS: 'partners.allowPrivatePushEndpoints',
  EVENT_PUSH_RETRY_DELAYS_MS: 'events.pushRetryDelaysMs',
  EVENT_PUSH_TIMEOUT_MS: 'events.pushTimeoutMs',
  EVENT_POLL_MAX_WAIT_MS: 'events.pollMaxWaitMs',
  PUSH_LANE_CONCURRENCY: 'events.laneConcurrency',
  PUSH_LANE_RETRY_MS: 'events.laneRetryMs',
  PUSH_CIRCUIT_FAILURES: 'events.circuitFailures',
  PUSH_CIRCUIT_COOLDOWN_MS: 'events.circuitCooldownMs',
  PUSH_CIRCUIT_MAX_COOLDOWN_MS: 'events.circuitMaxCooldownMs',
  APPLICATION_VELOCITY_LIMIT: 'applications.velocityLimit',
  APPLICATION_VELOCITY_WINDOW_HOURS: 'applications.velocityWindowHours',
  APPLICATION_MAX_ACCOUNTS_PER_IDENTITY: 'applications.maxAccountsPerIdentity',
  REFERRAL_SLA_GRACE_HOURS: 'referrals.slaGraceHours',
  REFERRAL_SLA_HOUR_MS: 'referrals.slaHourMs',
  OVERDUE_SCAN_CRON: 'overdue.scanCron',
  AUDIT_RETENTION_DAYS: 'audit.retentionDays',
  AUDIT_ARCHIVE_DIR: 'audit.archiveDir',
  AUDIT_EXPORT_CONCURRENCY: 'audit.exportConcurrency',
  WORKER_CONCURRENCY: 'worker.concurrency',
  WORKER_LOCK_DURATION_MS: 'worker.lockDurationMs',
  WORKER_METRICS_PORT: 'worker.metricsPort',
  JOB_RETRY_DELAY_SCALE: 'worker.retryDelayScale',
  SCHEDULE_WATCH_INTERVAL_MS: 'worker.scheduleWatchIntervalMs',
};

/** Settings that must never be printed. */
export const SECRET_PATHS = ['masterKey', 'platformJwt.secret', 'ops.metricsToken', 'databaseUrl', 'redisUrl'];

/** The one injectable handle on the validated configuration. */
export abstract class AppConfigService {
  abstract readonly values: AppConfig;
}
