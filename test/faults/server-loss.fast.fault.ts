import { Queue } from 'bullmq';

import { adminHeaders } from '../support/partner-client';
import { Gateway, privateStore, Store } from './support/gateway';
import { NoAnswer, send } from './support/http';
import { assertExactlyOnce, countReady } from './support/invariants';
import { PrivateMariaDb, PrivateRedis } from './support/private-servers';
import { OwnedProcess, until } from './support/processes';
import { applyAll, onboard } from './support/scenario';

/**
 * The servers themselves fail: Redis flushed and restarted empty, MariaDB restarted under load. These run on private
 * servers (never the machine's shared ones). The database is the system of record: the sweeper rebuilds the lost
 * work from MySQL, and the gateway processes recover without being restarted.
 */
describe('servers lost and restarted', () => {
  let mariadb: PrivateMariaDb;
  let redis: PrivateRedis;
  let store: Store;
  let api: Gateway;
  let worker: Gateway;

  beforeAll(async () => {
    [mariadb, redis] = await Promise.all([PrivateMariaDb.create(), PrivateRedis.create()]);
    store = await privateStore(mariadb.url, redis.url);
    [api, worker] = await Promise.all([Gateway.start('api', store), Gateway.start('worker', store)]);
  }, 240_000);

  afterAll(async () => {
    await OwnedProcess.killAll();
    await store?.db.end();
    await Promise.all([mariadb?.remove(), redis?.remove()]);
  });

  const jobKeys = () => redis.command((r) => r.keys(`${store.redisPrefix}*`));

  it('Redis flushed: the work waiting in Redis is rebuilt from MySQL and the flow goes on', async () => {
    const cohort = await onboard(api.baseUrl, 4);
    await until('READY', async () => (await countReady(store.db, cohort.referrals)) === 4, { watch: [worker.process] });
    await redis.flushAll();
    // The SLA timers (delayed jobs of 72 h) were only in Redis; the sweeper finds their rows ENQUEUED without a job.
    await until('delayed jobs back in Redis', async () => (await jobKeys()).some((k) => k.includes(':delayed')), {
      timeoutMs: 60_000,
      watch: [worker.process, api.process],
    });
    const later = await onboard(api.baseUrl, 2);
    await until('READY after the flush', async () => (await countReady(store.db, later.referrals)) === 2, { timeoutMs: 60_000 });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: [...cohort.referrals, ...later.referrals] });
  });

  it('Redis flushed: the periodic schedules come back without a worker restart (defect 3)', async () => {
    // A fresh worker declares the schedules at start-up (JobSchedules), whatever an earlier case flushed. Its watchdog
    // looks every second instead of every minute, so the case waits seconds, not a minute.
    await worker.stop();
    worker = await Gateway.start('worker', store, { SCHEDULE_WATCH_INTERVAL_MS: '1000' });
    const audit = new Queue('audit', { connection: { host: '127.0.0.1', port: redis.port }, prefix: store.redisPrefix });
    const checkpointScheduled = async () => (await audit.getJobSchedulers()).some((s) => s.key === 'audit.checkpoint');
    try {
      await until('the checkpoint schedule present', checkpointScheduled);
      await redis.flushAll();
      await until('the checkpoint schedule restored', checkpointScheduled, { timeoutMs: 30_000, watch: [worker.process] });
    } finally {
      await audit.close();
    }
  });

  it('Redis restarted empty: requests meanwhile are answered (no 500, no hang) and the work resumes', async () => {
    const cohort = await onboard(api.baseUrl, 3, { applyNow: false });
    await redis.stop();
    const during = await send(api.baseUrl, 'GET', '/health/ready');
    expect(during.status).toBe(503);
    await redis.start();
    await until('ready again', async () => (await send(api.baseUrl, 'GET', '/health/ready')).status === 200, { timeoutMs: 60_000 });
    await applyAll(api.baseUrl, cohort);
    await until('READY after the restart', async () => (await countReady(store.db, cohort.referrals)) === 3, {
      timeoutMs: 60_000,
      watch: [worker.process, api.process],
    });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
  });

  it('MariaDB restarted mid-request: 503 while it is down, then answers again without restarting the gateway', async () => {
    const cohort = await onboard(api.baseUrl, 3, { applyNow: false });
    const list = () => send(api.baseUrl, 'GET', '/v1/admin/partners?limit=1', { headers: adminHeaders() });
    expect((await list()).status).toBe(200);
    await mariadb.crash();
    const during = await list().then(
      (a) => ({ status: a.status, retryAfter: a.headers.get('retry-after') }),
      (error) => (error instanceof NoAnswer ? 'no answer' : Promise.reject(error)),
    );
    await mariadb.start();
    await until('answers again', async () => (await list()).status === 200, { timeoutMs: 60_000, watch: [api.process, worker.process] });
    await applyAll(api.baseUrl, cohort);
    await until('READY after the restart', async () => (await countReady(store.db, cohort.referrals)) === 3, {
      timeoutMs: 60_000,
      watch: [worker.process, api.process],
    });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
    // Asserted last, so a wrong status does not hide whether the recovery works.
    expect(during).toEqual({ status: 503, retryAfter: expect.stringMatching(/^[1-9]\d*$/) });
  });

  it('SIGTERM to a worker while Redis is down: it exits within the grace period, and the work goes on after', async () => {
    const stopping = await Gateway.start('worker', store);
    await redis.stop();
    try {
      stopping.process.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        stopping.process.exited,
        new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 10_000))),
      ]);
      clearTimeout(timer);
      expect(outcome).not.toBe('still running');
    } finally {
      await redis.start();
    }
    const cohort = await onboard(api.baseUrl, 2);
    await until('READY after the restart', async () => (await countReady(store.db, cohort.referrals)) === 2, {
      timeoutMs: 60_000,
      watch: [worker.process],
    });
    await assertExactlyOnce(store.db, api.baseUrl, { referrals: cohort.referrals });
  });
});
