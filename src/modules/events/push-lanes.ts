import { randomUUID } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';

import { AppConfigService } from '../../infra/config/app-config';
import { REDIS } from '../../infra/queues/redis.module';
import { RedisClient } from '../../infra/queues/redis-connection';

/** What admission said: send now (`probe`: as the one trial of a half-open circuit), or wait. */
export type LaneVerdict = 'go' | 'probe' | 'lane_full' | 'circuit_open' | 'circuit_probing';

export interface LaneTicket {
  partnerId: string;
  /** This attempt's member of the lane (random: two deliveries of one job are two members). */
  member: string;
  verdict: LaneVerdict;
  /** For `circuit_open`: how long until the circuit lets a probe through. */
  openForMs: number;
}

/** What a push told about the partner: it answered (any 2xx or a 400), it failed, or nothing was sent. */
export type LaneOutcome = 'answered' | 'failed' | 'not_sent';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface LaneState {
  circuit: { state: CircuitState; consecutiveFailures: number; openUntil: Date | null; opens: number };
  inFlight: number;
  limit: number;
}

/** After settling: whether this outcome opened or closed the circuit (for the log). */
export type CircuitChange = 'opened' | 'reopened' | 'closed' | 'none';

// Times are Redis's own (TIME), so workers whose clocks differ agree on leases and cooldowns.
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS: lane (sorted set member → lease end), circuit (hash). ARGV: member, limit, lease ms.
 * An open circuit refuses until its cooldown ends; then exactly one attempt (the probe) goes, the others wait.
 */
const ADMIT = `${NOW}
local openUntil = tonumber(redis.call('HGET', KEYS[2], 'openUntil') or '0')
local probe = false
if openUntil > 0 then
  if now < openUntil then return {'circuit_open', openUntil - now} end
  if tonumber(redis.call('HGET', KEYS[2], 'probeUntil') or '0') > now then return {'circuit_probing', 0} end
  probe = true
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {'lane_full', 0} end
local leaseEnd = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], leaseEnd, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
if probe then
  redis.call('HSET', KEYS[2], 'probe', ARGV[1], 'probeUntil', leaseEnd)
  return {'probe', 0}
end
return {'go', 0}`;

/**
 * KEYS: lane, circuit. ARGV: member, outcome, failures to open, cooldown ms, max cooldown ms, circuit ttl ms.
 * Frees the member's place; an answer closes the circuit (and forgets the failures), a failure counts and opens it
 * at the threshold, and a failed probe opens it again for twice the last cooldown (up to the maximum).
 */
const SETTLE = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == 'not_sent' then return 'none' end
local wasOpen = redis.call('HEXISTS', KEYS[2], 'openUntil') == 1
if ARGV[2] == 'answered' then
  redis.call('DEL', KEYS[2])
  if wasOpen then return 'closed' end
  return 'none'
end
local failures = redis.call('HINCRBY', KEYS[2], 'failures', 1)
local change = 'none'
if redis.call('HGET', KEYS[2], 'probe') == ARGV[1] then
  local opens = redis.call('HINCRBY', KEYS[2], 'opens', 1)
  local cooldown = math.min(tonumber(ARGV[4]) * 2 ^ math.min(opens - 1, 30), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[2], 'openUntil', now + cooldown)
  redis.call('HDEL', KEYS[2], 'probe', 'probeUntil')
  change = 'reopened'
elseif not wasOpen and failures >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[2], 'openUntil', now + tonumber(ARGV[4]), 'opens', 1)
  change = 'opened'
end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
return change`;

/** KEYS: lane, circuit. Returns now, failures, openUntil, opens, places taken. */
const READ = `${NOW}
local c = redis.call('HMGET', KEYS[2], 'failures', 'openUntil', 'opens')
return {now, tonumber(c[1] or '0'), tonumber(c[2] or '0'), tonumber(c[3] or '0'), redis.call('ZCOUNT', KEYS[1], now, '+inf')}`;

/** An idle partner's circuit is forgotten after this long (longer than any cooldown). */
const CIRCUIT_TTL_MS = 7 * 24 * 3600 * 1000;
/** A place in a lane outlives the push timeout by this much before another attempt may take it (a crashed worker). */
const LEASE_MARGIN_MS = 5_000;

/**
 * Each partner's push lane and circuit breaker, held in Redis so every worker process shares them (docs/RELIABILITY.md
 * "Partner push lanes"): at most `laneConcurrency` pushes in flight to one partner, and after `circuitFailures`
 * consecutive failures no push at all to it until a cooldown has passed and one probe has been answered.
 */
@Injectable()
export class PushLanes {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly config: AppConfigService,
  ) {}

  async admit(partnerId: string): Promise<LaneTicket> {
    const member = randomUUID();
    const { laneConcurrency, pushTimeoutMs } = this.config.values.events;
    const [verdict, openForMs] = (await this.redis.eval(
      ADMIT,
      2,
      ...this.keys(partnerId),
      member,
      laneConcurrency,
      pushTimeoutMs + LEASE_MARGIN_MS,
    )) as [LaneVerdict, number];
    return { partnerId, member, verdict, openForMs: Number(openForMs) };
  }

  async settle(ticket: LaneTicket, outcome: LaneOutcome): Promise<CircuitChange> {
    const e = this.config.values.events;
    return (await this.redis.eval(
      SETTLE,
      2,
      ...this.keys(ticket.partnerId),
      ticket.member,
      outcome,
      e.circuitFailures,
      e.circuitCooldownMs,
      e.circuitMaxCooldownMs,
      CIRCUIT_TTL_MS,
    )) as CircuitChange;
  }

  /** How long a push that was not admitted waits before it looks again (jittered so a crowd spreads out). */
  waitFor(ticket: LaneTicket): number {
    const retry = this.config.values.events.laneRetryMs;
    if (ticket.verdict === 'circuit_open') return ticket.openForMs + Math.round(Math.random() * retry);
    return Math.round(retry * (0.5 + Math.random()));
  }

  async state(partnerId: string): Promise<LaneState> {
    const [now, failures, openUntil, opens, inFlight] = ((await this.redis.eval(READ, 2, ...this.keys(partnerId))) as number[]).map(Number);
    const state: CircuitState = openUntil === 0 ? 'closed' : now < openUntil ? 'open' : 'half_open';
    return {
      circuit: { state, consecutiveFailures: failures, openUntil: openUntil === 0 ? null : new Date(openUntil), opens },
      inFlight,
      limit: this.config.values.events.laneConcurrency,
    };
  }

  /** Both keys share one hash tag (the prefix's, else the partner's): a Redis Cluster keeps them in the slot the scripts need. */
  private keys(partnerId: string): [string, string] {
    const base = `${this.config.values.redisPrefix}:push-lane:{${partnerId}}`;
    return [`${base}:in-flight`, `${base}:circuit`];
  }
}
