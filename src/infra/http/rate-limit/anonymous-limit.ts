import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';

import { Logger } from '@nestjs/common';
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { AppConfig } from '../../config/app-config';
import { createRedisClient, RedisClient } from '../../queues/redis-connection';
import { replyWithProblem } from '../problem-details';
import { RateLimitedError } from './principal-throttler.guard';

/**
 * How long a process trusts Redis's "not blocked" for an address before asking again. A busy partner's address then
 * costs one Redis call a second instead of one a request; another process's count reaches this one within that time,
 * and this process's own failures at once (see count).
 */
export const CLEAR_MEMO_MS = 1000;
/** Most addresses remembered as clear; past it the memo starts over (it only saves Redis calls). */
const CLEAR_MEMO_MAX = 50_000;

/** Routes a blocked address still reaches: load balancers probe them, and they answer nothing about anyone. */
const EXEMPT_ROUTES = new Set(['/health/live', '/health/ready']);

/** Counts one failure; the first starts the window. Returns the count. */
const RECORD_FAILURE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** The milliseconds until the window reopens when the address has used its budget, else -1. */
const BLOCKED_FOR = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return -1 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return tonumber(ARGV[2]) end
return ttl`;

type LimitClient = RedisClient & {
  recordFailure(key: string, windowMs: number): Promise<number>;
  blockedFor(key: string, limit: number, windowMs: number): Promise<number>;
};

/**
 * The bucket of a client address: IPv4 as is (IPv4-mapped IPv6 included), IPv6 by its /64, the block one subscriber
 * gets, so rotating the interface identifier gives no fresh budget.
 */
export function addressBucket(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (!isIPv6(ip)) return ip;
  const [head, tail = ''] = ip.split('::');
  const groups = head ? head.split(':') : [];
  if (ip.includes('::')) {
    const tailGroups = tail ? tail.split(':').reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0) : 0;
    groups.push(...Array<string>(8 - groups.length - tailGroups).fill('0'));
  }
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/**
 * Per-address limit on callers without a credential, before authentication (docs/SECURITY.md). The principal limiter is
 * a Nest guard, so requests refused by the authentication hook (401/403) and unknown routes (404) never met it, and each
 * one could still cost a signature check and, on /partner/v1, an audit entry.
 *
 * What counts: answers 400–499 (but 429) to a request that ended without an authenticated principal — missing or
 * refused credentials, failed token requests, unknown routes — on any route but the health probes. Successes do not
 * count (the JWKS, the docs, a token issued), nor do authenticated callers' refusals (their own principal limit applies).
 * Once an address has used its budget, every request from it but the health probes is answered 429 before
 * authentication, a valid token included: telling a valid token from a forged one is the work being limited.
 *
 * Counted in Redis (one fixed window per address, shared by every api process; a process re-reads an address's state
 * at most every CLEAR_MEMO_MS while it is under its budget); if Redis fails the request is let through and the failure
 * logged, as for the principal limiter. Addresses are stored hashed.
 */
export class AnonymousRateLimit {
  private readonly logger = new Logger(AnonymousRateLimit.name);
  private readonly client: LimitClient;
  private readonly limit: number;
  private readonly windowMs: number;
  /** Addresses Redis said were under their budget, until when this process believes it. */
  private readonly clear = new Map<string, number>();

  constructor(config: Pick<AppConfig, 'redisUrl' | 'redis' | 'redisPrefix' | 'http'>) {
    this.limit = config.http.anonymousRateLimit.limit;
    this.windowMs = config.http.anonymousRateLimit.windowSeconds * 1000;
    // Auto-pipelining: most requests run one script here, and those of the same event-loop turn share one socket write.
    this.client = createRedisClient(config, {
      keyPrefix: `${config.redisPrefix}rl:anon:`,
      maxRetriesPerRequest: 1,
      enableAutoPipelining: true,
    }) as LimitClient;
    this.client.defineCommand('recordFailure', { numberOfKeys: 1, lua: RECORD_FAILURE });
    this.client.defineCommand('blockedFor', { numberOfKeys: 1, lua: BLOCKED_FOR });
  }

  /**
   * Installs the check (onRequest) and the count (onSend). Call before any authentication hook is added: Fastify runs
   * hooks in the order they were added.
   */
  install(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', (request, reply) => this.check(request, reply));
    fastify.addHook('onSend', async (request, reply, payload) => {
      await this.count(request, reply.statusCode);
      return payload;
    });
    fastify.addHook('onClose', async () => {
      this.client.disconnect(false);
    });
  }

  private async check(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (reply.sent || this.exempt(request)) return undefined;
    const key = this.keyOf(request);
    const now = Date.now();
    if ((this.clear.get(key) ?? 0) > now) return undefined;
    let blockedMs: number;
    try {
      blockedMs = await this.client.blockedFor(key, this.limit, this.windowMs);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'anonymous rate limit not enforced: Redis unavailable');
      return undefined;
    }
    if (blockedMs < 0) {
      if (this.clear.size >= CLEAR_MEMO_MAX) this.clear.clear();
      this.clear.set(key, now + CLEAR_MEMO_MS);
      return undefined;
    }
    return replyWithProblem(reply, new RateLimitedError(Math.ceil(blockedMs / 1000)), request.id);
  }

  private async count(request: FastifyRequest, status: number): Promise<void> {
    if (request.principal || status < 400 || status >= 500 || status === 429 || this.exempt(request)) return;
    const key = this.keyOf(request);
    try {
      // The budget used up here: this process asks Redis again on the address's next request.
      if ((await this.client.recordFailure(key, this.windowMs)) >= this.limit) this.clear.delete(key);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'anonymous failure not counted: Redis unavailable');
    }
  }

  /** By the matched route's template, so no spelling of another path passes for a health probe. */
  private exempt(request: FastifyRequest): boolean {
    return !request.is404 && EXEMPT_ROUTES.has(request.routeOptions.url ?? '');
  }

  /** Hashed so that no address sits in Redis in the clear. */
  private keyOf(request: FastifyRequest): string {
    return createHash('sha256').update(addressBucket(request.ip)).digest('base64url');
  }
}
