import type { ConnectionOptions } from 'bullmq';
import Redis, { Cluster, RedisOptions } from 'ioredis';

import { AppConfig } from '../config/app-config';

/** What every connection is built from: REDIS_URL and, for a Redis Cluster, its seed nodes (REDIS_CLUSTER_NODES). */
export type RedisTarget = Pick<AppConfig, 'redisUrl'> & { redis: Pick<AppConfig['redis'], 'clusterNodes'> };

/** A single Redis or a Redis Cluster: the gateway's code uses only commands both have. */
export type RedisClient = Redis | Cluster;

/** ioredis options from REDIS_URL; BullMQ needs `maxRetriesPerRequest: null` for blocking worker connections. */
function redisOptions(redisUrl: string, extra: Partial<RedisOptions> = {}): RedisOptions {
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

/**
 * The one place a Redis client is built from configuration. On a cluster, REDIS_URL's host, port and database are
 * not used (ioredis learns every node from the seeds); its credentials and TLS apply to each node's connection.
 * `keyPrefix` and auto-pipelining belong to the client as a whole, the rest to each node's connection.
 */
export function createRedisClient(target: RedisTarget, extra: Partial<RedisOptions> = {}): RedisClient {
  const nodes = target.redis.clusterNodes;
  if (!nodes) return new Redis(redisOptions(target.redisUrl, extra));
  const { username, password, tls } = redisOptions(target.redisUrl);
  const { keyPrefix, enableAutoPipelining, ...perNode } = extra;
  return new Cluster(nodes, {
    keyPrefix,
    enableAutoPipelining,
    redisOptions: { username, password, tls, maxRetriesPerRequest: null, ...perNode },
  });
}

/**
 * BullMQ's connection. A single Redis: options, from which every queue and worker opens (and closes) its own
 * connections, as before. A cluster: one Cluster client the caller owns and must disconnect; BullMQ shares it
 * and duplicates it for each worker's blocking connection (which it closes itself).
 */
export function bullConnection(target: RedisTarget): ConnectionOptions {
  if (target.redis.clusterNodes) return createRedisClient(target, { maxRetriesPerRequest: null });
  const { host, port, db, username, password, tls } = redisOptions(target.redisUrl);
  return { host, port, db, username, password, tls, maxRetriesPerRequest: null };
}

/** Disconnects what bullConnection built, if it built a client (options need nothing). */
export function releaseBullConnection(connection: ConnectionOptions): void {
  if (connection instanceof Redis || connection instanceof Cluster) connection.disconnect();
}

/**
 * Throws unless Redis serves this deployment's keys. A single Redis: PING. A cluster: PING answered by any node
 * proves little, so the cluster must say `cluster_state:ok` (every slot served) and the node owning the prefix's
 * slot (every key of the deployment, see isHashTagged) must answer a read there.
 */
export async function assertRedisServes(client: RedisClient, prefix: string): Promise<void> {
  if (!(client instanceof Cluster)) {
    await client.ping();
    return;
  }
  const info = (await client.cluster('INFO')) as string;
  if (!/^cluster_state:ok\s*$/m.test(info)) throw new Error('Redis Cluster state is not ok');
  await client.exists(`${prefix}:ready`);
}

/** The primaries holding data: the client itself, or every master of the cluster (once it knows them). */
export async function primaries(client: RedisClient): Promise<Redis[]> {
  if (!(client instanceof Cluster)) return [client];
  await client.cluster('INFO'); // queued until the client is connected and knows the slots
  return client.nodes('master');
}

/** Whether Redis answers a PING within `ms`: at shutdown, a Redis that does not answer must not hold the process. */
export async function redisAnswers(client: RedisClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      client.ping().then(
        () => true,
        () => false,
      ),
      silent,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
