import Redis from 'ioredis';
import { DataSource } from 'typeorm';

/** Where a secret was found: `table.column` (or `redis:<key>`), and how it was written there. */
export interface Leak {
  where: string;
  secret: string;
  how: string;
}

/**
 * Runs of base64 or base64url characters long enough to hide a value: JWS segments, SETs, encoded blobs. Found by
 * splitting on every other character, not by matching the runs: a greedy regex over a run of megabytes (a daily
 * overdue file of 10,000 records) overflows the regex engine's stack.
 */
const NOT_ENCODED = /[^A-Za-z0-9+/_=-]+/;
const encodedRuns = (text: string) => text.split(NOT_ENCODED).filter((run) => run.length >= 12);
const MAX_DEPTH = 3;

/**
 * How `text` carries any of `secrets`: as is (any case), as hex, or inside base64 / base64url text, decoded
 * recursively (a JWS inside a JSON inside a base64 blob is still found). Node's base64 decoder takes both alphabets.
 */
export function secretsIn(text: string, secrets: readonly string[], depth = 0): Array<{ secret: string; how: string }> {
  const found: Array<{ secret: string; how: string }> = [];
  const lower = text.toLowerCase();
  for (const secret of secrets) {
    if (lower.includes(secret.toLowerCase())) found.push({ secret, how: depth ? `base64 (depth ${depth})` : 'clear' });
    else if (lower.includes(Buffer.from(secret, 'utf8').toString('hex'))) found.push({ secret, how: 'hex' });
  }
  if (depth >= MAX_DEPTH) return found;
  for (const token of encodedRuns(text)) {
    const decoded = Buffer.from(token, 'base64').toString('latin1');
    for (const hit of secretsIn(decoded, secrets, depth + 1)) if (!found.some((f) => f.secret === hit.secret)) found.push(hit);
  }
  return found;
}

/** A cell as text: binary columns (sealed values, keyed hashes) as Latin-1, so any clear bytes inside stay visible. */
function cellText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value instanceof Date) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Every table of the connection's database (information_schema), every row and column, scanned for the secrets. */
export async function scanDatabase(db: DataSource, secrets: readonly string[]): Promise<{ leaks: Leak[]; tables: string[] }> {
  const tables: Array<{ name: string }> = await db.query(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
  );
  const leaks: Leak[] = [];
  for (const { name } of tables) {
    const rows: Array<Record<string, unknown>> = await db.query(`SELECT * FROM \`${name}\``);
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        const text = cellText(value);
        if (text === undefined) continue;
        for (const hit of secretsIn(text, secrets)) leaks.push({ where: `${name}.${column}`, ...hit });
      }
    }
  }
  return { leaks, tables: tables.map((t) => t.name) };
}

/** Every Redis key under `prefix` (BullMQ jobs and their results, rate limits, replay stores), scanned the same way. */
export async function scanRedis(redisUrl: string, prefix: string, secrets: readonly string[]): Promise<{ leaks: Leak[]; keys: number }> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const leaks: Leak[] = [];
  let keys = 0;
  try {
    // MATCH is a glob: escape its specials so the prefix is taken literally.
    const pattern = `${prefix.replace(/([*?[\]\\])/g, '\\$1')}*`;
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const key of batch) {
        keys++;
        const type = await redis.type(key);
        let values: string[] = [];
        if (type === 'string') values = [(await redis.get(key)) ?? ''];
        else if (type === 'hash') values = Object.entries(await redis.hgetall(key)).flat();
        else if (type === 'list') values = await redis.lrange(key, 0, -1);
        else if (type === 'set') values = await redis.smembers(key);
        else if (type === 'zset') values = await redis.zrange(key, 0, -1);
        else if (type === 'stream') values = (await redis.xrange(key, '-', '+')).flatMap(([, fields]) => fields);
        for (const value of values) for (const hit of secretsIn(value, secrets)) leaks.push({ where: `redis:${key}`, ...hit });
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return { leaks, keys };
}
