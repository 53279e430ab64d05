import { INestApplicationContext } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Job } from 'bullmq';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';

import { JobQueues } from '../../src/infra/queues/job-queues';
import { dataSourceOf, eventually, startHttpApp, startWorker } from '../support/app';
import { deleteKeys } from '../support/global-teardown';
import { BankClient, inject, uniqueCode } from '../support/partner-client';
import { rowKey } from '../support/public-ids';
import { apply, createProduct, ingest, prescreen, registerPartner, userHeaders, userIds } from '../support/referral-flow';

/**
 * Retry policies (docs/RELIABILITY.md, "Retry policies and schedules") on a real worker, MariaDB and Redis: a state
 * change is retried past the old 8 attempts until it succeeds, alerting meanwhile; one BullMQ gives up on reaches its
 * owner (a referral is not left PACKAGING); a flushed Redis gets its periodic schedules back without a restart.
 * Retry delays are scaled down to milliseconds (JOB_RETRY_DELAY_SCALE). The database fault is a trigger refusing
 * READY for the referrals listed in a table of this spec, so it can be healed.
 */
jest.setTimeout(120_000);

const WORKER = { JOB_RETRY_DELAY_SCALE: '0.001', SCHEDULE_WATCH_INTERVAL_MS: '200' };

describe('job retry policies and schedules', () => {
  let api: NestFastifyApplication;
  let worker: INestApplicationContext | undefined;
  let db: DataSource;
  let redis: Redis;
  // Two banks: packaging batches a partner's waiting referrals, so one fault must not hold the other's referral.
  const bank = new BankClient(uniqueCode('RTY'));
  const otherBank = new BankClient(uniqueCode('RTZ'));
  const users = userIds(2);
  let retried: string; // packaging fails for a while, then works
  let abandoned: string; // packaging fails and BullMQ gives up
  const trigger = `fault_ready_${process.env.TEST_RUN_ID}`;
  const faults = `fault_referrals_${process.env.TEST_RUN_ID}`;

  const status = async (ref: string) => (await db.query('SELECT status FROM referrals WHERE id = ?', [rowKey(ref)]))[0].status;
  const packagingJobs = async (ref: string): Promise<Job[]> => {
    const jobs = await api.get(JobQueues).get('referrals').getJobs(['waiting', 'delayed', 'active', 'prioritized', 'failed']);
    return jobs.filter((j) => j?.name === 'referral.package' && String(j.data.referralId) === rowKey(ref));
  };
  const alerting = async () => {
    const res = await inject(api, { method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${process.env.METRICS_TOKEN}` } });
    const line = res.body.split('\n').find((l) => l.startsWith('job_retries_alerting{queue="referrals"}'));
    return Number(line?.split(' ')[1] ?? NaN);
  };

  beforeAll(async () => {
    api = await startHttpApp();
    db = dataSourceOf(api);
    redis = new Redis(process.env.REDIS_URL!);
    await registerPartner(api, bank.code, { keys: [bank.publicJwk()] });
    await registerPartner(api, otherBank.code, { keys: [otherBank.publicJwk()] });
    const products = [
      await createProduct(api, bank.code, ['applicant.name']),
      await createProduct(api, otherBank.code, ['applicant.name']),
    ];
    await ingest(api, users);
    // A worker for the pre-screens only: the referrals stay PACKAGING until a test starts one.
    const prescreening = await startWorker();
    try {
      for (const product of products) await prescreen(api, product);
    } finally {
      await prescreening.close();
    }
    retried = await apply(api, users[0], products[0]);
    abandoned = await apply(api, users[1], products[1]);
    await db.query(`CREATE TABLE ${faults} (id BIGINT UNSIGNED PRIMARY KEY)`);
    await db.query(`INSERT INTO ${faults} VALUES (?), (?)`, [rowKey(retried), rowKey(abandoned)]);
    await db.query(
      `CREATE TRIGGER ${trigger} BEFORE UPDATE ON referrals FOR EACH ROW
       BEGIN
         IF NEW.status = 'READY' AND NEW.id IN (SELECT id FROM ${faults}) THEN
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault: packaging cannot commit';
         END IF;
       END`,
    );
  });

  afterAll(async () => {
    await worker?.close();
    await db.query(`DROP TRIGGER IF EXISTS ${trigger}`);
    await db.query(`DROP TABLE IF EXISTS ${faults}`);
    redis.disconnect();
    await api.close();
  });

  it('retries a failing state change past the old 8 attempts, alerting, until it succeeds', async () => {
    expect(await status(retried)).toBe('PACKAGING');
    worker = await startWorker(WORKER);
    const job = (await eventually(async () => {
      const jobs = await packagingJobs(retried);
      return jobs.length === 1 && jobs[0].attemptsMade >= 12 ? jobs[0] : false;
    }, 60_000)) as Job;
    // Still being retried, not failed for good as with the old 8 attempts.
    expect(await job.getState()).not.toBe('failed');
    expect(job.opts.attempts).toBeGreaterThan(10_000);
    expect(await status(retried)).toBe('PACKAGING');
    expect(await alerting()).toBeGreaterThanOrEqual(1);

    await db.query(`DELETE FROM ${faults} WHERE id = ?`, [rowKey(retried)]);
    await eventually(async () => (await status(retried)) === 'READY', 30_000);
    // The job that kept failing leaves the alerting set once it succeeded (the other bank's referral still fails).
    await eventually(async () => (await api.get(JobQueues).get('referrals').getJobState(job.id!)) === 'completed');
    const key = `${process.env.REDIS_PREFIX}:referrals:retry-alerts`;
    expect(await redis.zscore(key, job.id!)).toBeNull();
  });

  it('a referral.package BullMQ gives up on leaves the referral EXPIRED with a note, the user free to apply again', async () => {
    expect(await status(abandoned)).toBe('PACKAGING');
    worker ??= await startWorker(WORKER);
    const [relation] = await db.query(
      `SELECT COUNT(*) AS n FROM partner_relationships WHERE referral_id = ? AND kind = 'OPEN_APPLICATION'`,
      [rowKey(abandoned)],
    );
    expect(Number(relation.n)).toBe(1);
    // A job whose attempts run out at once: what BullMQ does at the end of any policy.
    await api
      .get(JobQueues)
      .add('referrals', 'referral.package', { referralId: rowKey(abandoned), correlationId: 'test-abandoned' }, { attempts: 1 });
    await eventually(async () => (await status(abandoned)) === 'EXPIRED', 30_000);

    const view = await inject(api, { method: 'GET', url: `/v1/me/applications/${abandoned}`, headers: userHeaders(users[1]) });
    expect(view.statusCode).toBe(200);
    expect(view.json().status).toBe('EXPIRED');
    const timeline = await db.query(
      'SELECT from_status, to_status, actor_id, note FROM referral_timeline WHERE referral_id = ? ORDER BY id',
      [rowKey(abandoned)],
    );
    expect(timeline.at(-1)).toEqual({
      from_status: 'PACKAGING',
      to_status: 'EXPIRED',
      actor_id: 'packaging',
      note: 'the referral file could not be built; the application was not sent to the bank',
    });
    const [after] = await db.query(`SELECT COUNT(*) AS n FROM partner_relationships WHERE referral_id = ? AND kind = 'OPEN_APPLICATION'`, [
      rowKey(abandoned),
    ]);
    expect(Number(after.n)).toBe(0);
    const [audit] = await db.query(
      `SELECT COUNT(*) AS n FROM (SELECT id FROM audit_inbox WHERE action = 'referral.packaging_failed' AND resource_id = ?
        UNION ALL SELECT seq FROM audit_events WHERE action = 'referral.packaging_failed' AND resource_id = ?) a`,
      [abandoned, abandoned],
    );
    expect(Number(audit.n)).toBe(1);
    // The bank never saw it: no event about it.
    const [events] = await db.query('SELECT COUNT(*) AS n FROM partner_events WHERE txn = ?', [abandoned]);
    expect(Number(events.n)).toBe(0);
    // The relayed job, still being retried, then finds the referral closed and ends without packaging it.
    await db.query(`DELETE FROM ${faults}`);
    await eventually(async () => (await packagingJobs(abandoned)).every((j) => j.opts.attempts === 1), 30_000);
    expect(await status(abandoned)).toBe('EXPIRED');
  });

  it('restores the periodic schedules after a Redis flush, without a restart, and they run again', async () => {
    worker ??= await startWorker(WORKER);
    const audit = api.get(JobQueues).get('audit');
    await eventually(async () => (await audit.getJobScheduler('audit.checkpoint')) !== undefined);
    // The flush: every key of this run's prefix (never FLUSHALL on the shared Redis).
    await deleteKeys(redis, `${process.env.REDIS_PREFIX}*`);
    expect(await audit.getJobScheduler('audit.checkpoint')).toBeUndefined();

    await eventually(async () => {
      const ids = [
        await api.get(JobQueues).get('maintenance').getJobScheduler('idempotency-keys.purge'),
        await api.get(JobQueues).get('referrals').getJobScheduler('referral-files.purge'),
        await audit.getJobScheduler('audit.checkpoint'),
      ];
      return ids.every((s) => s !== undefined);
    });
    // Everything completed since the flush ran after it: a checkpoint job ran on the restored schedule.
    const ran = await eventually(async () => {
      const done = await audit.getCompleted();
      return done.find((j) => j.name === 'audit.checkpoint');
    }, 20_000);
    expect(ran?.opts.attempts).toBe(3);
  });
});
