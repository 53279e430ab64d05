import { cpus, loadavg, platform, release, totalmem } from 'node:os';

import Redis from 'ioredis';
import * as mysql from 'mysql2/promise';

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  mariadb: string;
  redis: string;
  innodbBufferPoolMiB: number;
  innodbFlushLogAtTrxCommit: string;
  loadAverageAtStart: number[];
}

export async function describeMachine(pool: mysql.Pool, redisUrl: string): Promise<MachineDescription> {
  const [rows] = (await pool.query(
    'SELECT VERSION() AS v, @@innodb_buffer_pool_size AS bp, @@innodb_flush_log_at_trx_commit AS flush',
  )) as unknown as [{ v: string; bp: string; flush: string }[]];
  const redis = new Redis(redisUrl);
  const info = await redis.info('server');
  redis.disconnect();
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    mariadb: rows[0].v,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown',
    innodbBufferPoolMiB: Math.round(Number(rows[0].bp) / 2 ** 20),
    innodbFlushLogAtTrxCommit: String(rows[0].flush),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
