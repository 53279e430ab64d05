import { AddressInfo, createServer } from 'node:net';

import { INestApplicationContext } from '@nestjs/common';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';

import { runCli } from '../../src/cli/main';
import { AppConfigService } from '../../src/infra/config/app-config';
import { TransactionRunner } from '../../src/infra/database/transaction.runner';
import { OUTBOX_STATS_QUERIES } from '../../src/infra/ops/outbox-stats.repository';
import { OutboxRelay } from '../../src/infra/outbox/outbox.relay';
import { outboxJobId, outboxRowOf, OutboxService } from '../../src/infra/outbox/outbox.service';
import { OutboxProbe } from '../../src/infra/outbox/outbox-probe';
import { OutboxPurge } from '../../src/infra/outbox/outbox-purge.handler';
import { JobQueues } from '../../src/infra/queues/job-queues';
import { SCHEDULES } from '../../src/infra/worker/job-schedules.service';
import { eventually, startHttpApp, startWorker } from '../support/app';
import { deleteKeys } from '../support/global-teardown';
import { failJobForGood } from '../support/lost-job';

/** The outbox guarantees: a committed change has its job exactly once; a rolled-back one has none; Redis may be lost. */
describe('transactional outbox', () => {
  let api: INestApplicationContext;
  let db: DataSource;
  let relay: OutboxRelay;
  let queues: JobQueues;
  let probes: OutboxProbe;
  let redis: Redis;

  beforeAll(async () => {
    api = await startHttpApp('api'); // no worker: the test drives the relay by hand
    db = api.get(DataSource);
    relay = api.get(OutboxRelay);
    queues = api.get(JobQueues);
    probes = api.get(OutboxProbe);
    redis = new Redis(process.env.REDIS_URL!);
  });

  afterAll(async () => {
    redis.disconnect();
    await api.close();
  });

  const flushRedis = () => deleteKeys(redis, `${process.env.REDIS_PREFIX}*`);
  const probeRow = async (id: string) => (await db.query('SELECT handled_at, deliveries FROM outbox_probes WHERE id = ?', [id]))[0];
  const outboxRow = async (id: string) => (await db.query('SELECT * FROM outbox WHERE id = ?', [id]))[0];
  /** The BullMQ job id of a row as it is now (id and token). */
  const jobIdOf = async (id: string) => outboxJobId(id, (await outboxRow(id)).job_token);
  /** Runs an operator command in this process, capturing what it prints. */
  async function runCliCapturing(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
    const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    try {
      const code = await runCli(['node', 'cli', ...args]);
      return { code, out: out.join('\n'), err: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
    }
  }

  const relayAll = async () => {
    while ((await relay.relayBatch(500)) > 0);
  };

  async function runWorkerUntilDone(...outboxIds: string[]) {
    const worker = await startWorker();
    try {
      for (const id of outboxIds) await eventually(async () => (await outboxRow(id)).status === 'DONE');
    } finally {
      await worker.close();
    }
  }

  it('relays a committed row once even when the relay runs twice and a job with its id already exists', async () => {
    const { probeId, outboxId } = await probes.start('relay-twice', 'test');
    // A relay that enqueued and then died before marking the row: the job exists, the row is still PENDING.
    const jobId = await jobIdOf(outboxId);
    await queues.get('maintenance').add('outbox.probe', { probeId, correlationId: 'test' }, { jobId });
    await relayAll();
    await relayAll();
    expect((await outboxRow(outboxId)).status).toBe('ENQUEUED');
    const jobs = await queues.get('maintenance').getJobs(['waiting', 'delayed', 'active']);
    expect(jobs.filter((j) => j.id === jobId)).toHaveLength(1);

    await runWorkerUntilDone(outboxId);
    const row = await probeRow(probeId);
    expect(row.handled_at).not.toBeNull();
    expect(row.deliveries).toBe(1);
  });

  it('loses nothing when Redis is flushed between commit and relay', async () => {
    const { probeId, outboxId } = await probes.start('flush-before-relay', 'test');
    await flushRedis();
    await relayAll();
    await runWorkerUntilDone(outboxId);
    expect((await probeRow(probeId)).deliveries).toBe(1);
  });

  it('re-enqueues a relayed job that Redis lost, once; a delayed job is not asked about before it is due', async () => {
    const { probeId, outboxId } = await probes.start('flush-after-relay', 'test');
    const delayed = await db.transaction(async (m) =>
      api.get(OutboxService).enqueue(m, 'maintenance', 'outbox.probe', { probeId, correlationId: 'delayed' }, { delayMs: 72 * 3_600_000 }),
    );
    await relayAll();
    const maintenance = queues.get('maintenance');
    expect(await maintenance.getJobState(await jobIdOf(delayed))).toBe('delayed');
    await flushRedis();
    expect(await maintenance.getJobState(await jobIdOf(outboxId))).toBe('unknown');

    await eventually(async () => (await relay.sweep(0, 500)).reenqueued > 0);
    await relay.sweep(0, 500); // a second sweep finds the due job present and adds nothing
    expect(await maintenance.getJobState(await jobIdOf(outboxId))).toBe('waiting');
    // 72 h to go: no sweep asks Redis about it (its loss costs nothing until then), so it is not back yet.
    expect(await maintenance.getJobState(await jobIdOf(delayed))).toBe('unknown');
    expect((await outboxRow(delayed)).enqueue_count).toBe(1);

    // 72 h later (the row's clock moved back instead): due, missing, so added again, to run at once.
    await db.query(`UPDATE outbox SET created_at = created_at - INTERVAL 72 HOUR, check_at = check_at - INTERVAL 72 HOUR WHERE id = ?`, [
      delayed,
    ]);
    const delayedJobId = await jobIdOf(delayed);
    await eventually(async () => {
      await relay.sweep(0, 500);
      return (await maintenance.getJobState(delayedJobId)) !== 'unknown';
    });
    expect((await maintenance.getJob(delayedJobId))!.delay).toBe(0);
    expect((await outboxRow(delayed)).enqueue_count).toBe(2);

    await runWorkerUntilDone(outboxId, delayed);
    expect((await probeRow(probeId)).deliveries).toBe(2);
  });

  it('enqueues nothing for a rolled-back transaction', async () => {
    const before = (await db.query('SELECT COALESCE(MAX(id), 0) AS max FROM outbox'))[0].max;
    await expect(
      api.get(TransactionRunner).run(async (m) => {
        await api.get(OutboxService).enqueue(m, 'maintenance', 'outbox.probe', { probeId: '0', correlationId: 'rollback' });
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    await relayAll();
    const after = await db.query('SELECT id FROM outbox WHERE id > ?', [before]);
    expect(after).toHaveLength(0);
  });

  it('refuses to write an outbox row outside a transaction', async () => {
    await expect(
      api.get(OutboxService).enqueue(db.manager, 'maintenance', 'outbox.probe', { probeId: '0', correlationId: 'x' }),
    ).rejects.toThrow(/inside the business transaction/);
  });

  it('gives a reused outbox id (the database went back in time) a job of its own, which the sweeper does not close early', async () => {
    const first = await probes.start('before-restore', 'test');
    await relayAll();
    await runWorkerUntilDone(first.outboxId);
    const oldJobId = await jobIdOf(first.outboxId);
    const maintenance = queues.get('maintenance');
    expect(await maintenance.getJobState(oldJobId)).toBe('completed'); // kept by BullMQ for a day

    // A restore from before that row: the auto-increment hands the id out again, to another change.
    const secondProbe = await db.transaction(async (m) => {
      const { insertId } = await m.query('INSERT INTO outbox_probes (label) VALUES (?)', ['after-restore']);
      await m.query('DELETE FROM outbox WHERE id = ?', [first.outboxId]);
      await m.query(`INSERT INTO outbox (id, queue, job_name, payload) VALUES (?, 'maintenance', 'outbox.probe', ?)`, [
        first.outboxId,
        JSON.stringify({ probeId: String(insertId), correlationId: 'restore' }),
      ]);
      return String(insertId);
    });
    await relayAll();
    const newJobId = await jobIdOf(first.outboxId);
    expect(newJobId).not.toBe(oldJobId);
    expect(outboxRowOf(newJobId)?.id).toBe(first.outboxId);
    expect(await maintenance.getJobState(newJobId)).toBe('waiting');
    // The old job's completion says nothing about this row.
    await relay.sweep(0, 500);
    expect((await outboxRow(first.outboxId)).status).toBe('ENQUEUED');

    await runWorkerUntilDone(first.outboxId);
    expect((await probeRow(secondProbe)).deliveries).toBe(1);
    expect((await probeRow(first.probeId)).deliveries).toBe(1);
  });

  it('parks a row the relay cannot hand to BullMQ and relays the rows behind it', async () => {
    const bogus: string[] = [];
    for (const [queue, job, payload] of [
      ['no-such-queue', 'outbox.probe', '{}'],
      ['maintenance', 'no.such.job', '{}'],
      ['maintenance', 'outbox.probe', '[1, 2]'],
      ['maintenance', 'outbox.probe', '"text"'],
    ]) {
      const { insertId } = await db.query('INSERT INTO outbox (queue, job_name, payload) VALUES (?, ?, ?)', [queue, job, payload]);
      bogus.push(String(insertId));
    }
    const { probeId, outboxId } = await probes.start('behind-bogus', 'test');
    await relayAll();

    const parked = await db.query('SELECT id, status, last_error FROM outbox WHERE id IN (?) ORDER BY id', [bogus]);
    expect(parked).toEqual([
      { id: bogus[0], status: 'PARKED', last_error: 'unknown queue no-such-queue' },
      { id: bogus[1], status: 'PARKED', last_error: 'unknown job maintenance/no.such.job' },
      { id: bogus[2], status: 'PARKED', last_error: 'payload is not a JSON object' },
      { id: bogus[3], status: 'PARKED', last_error: expect.stringMatching(/^payload is not/) },
    ]);
    expect((await outboxRow(outboxId)).status).toBe('ENQUEUED');
    await runWorkerUntilDone(outboxId);
    expect((await probeRow(probeId)).deliveries).toBe(1);
  });

  it('outbox:retry runs a FAILED row again under a new job id, audited; outbox:failed lists it', async () => {
    const { probeId, outboxId } = await probes.start('failed-for-good', 'test');
    const jobId = await jobIdOf(outboxId);
    // Its job failed for good (as after its last attempt) and BullMQ keeps it under its id for two weeks.
    await queues.get('maintenance').add('outbox.probe', { probeId, correlationId: 't' }, { jobId, lifo: true, attempts: 1 });
    await failJobForGood(api.get(AppConfigService).values, 'maintenance', jobId, 'partner down for a day');
    await db.query(`UPDATE outbox SET status = 'FAILED', finished_at = NOW(3), last_error = 'partner down for a day' WHERE id = ?`, [
      outboxId,
    ]);

    const listed = await runCliCapturing(['outbox:failed', '--limit', '1000']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out)).toContainEqual(
      expect.objectContaining({ id: outboxId, status: 'FAILED', jobName: 'outbox.probe', lastError: 'partner down for a day' }),
    );

    const retried = await runCliCapturing(['outbox:retry', outboxId]);
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.out)).toEqual({ id: outboxId, queue: 'maintenance', jobName: 'outbox.probe', previousStatus: 'FAILED' });
    expect((await outboxRow(outboxId)).status).toBe('PENDING');
    expect(await jobIdOf(outboxId)).not.toBe(jobId);
    const [audit] = await db.query(
      `SELECT COUNT(*) AS n FROM (SELECT id FROM audit_inbox WHERE action = 'outbox.retried' AND resource_id = ?
        UNION ALL SELECT seq FROM audit_events WHERE action = 'outbox.retried' AND resource_id = ?) a`,
      [outboxId, outboxId],
    );
    expect(Number(audit.n)).toBe(1);

    await relayAll();
    await runWorkerUntilDone(outboxId);
    expect((await probeRow(probeId)).deliveries).toBe(1);
    expect((await outboxRow(outboxId)).last_error).toBeNull();

    // Only a row that ended without success goes back; a DONE one is refused.
    const refused = await runCliCapturing(['outbox:retry', outboxId]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('is DONE');
    expect((await runCliCapturing(['outbox:retry', '99999999999'])).err).toContain('not found');
  });

  it('purges DONE rows past the retention in batches, keeps recent and failed ones, and runs hourly', async () => {
    const insert = async (status: string, finishedHoursAgo: number) =>
      String(
        (
          await db.query(
            `INSERT INTO outbox (queue, job_name, payload, status, finished_at) VALUES ('maintenance', 'outbox.probe', '{}', ?, NOW(3) - INTERVAL ? HOUR)`,
            [status, finishedHoursAgo],
          )
        ).insertId,
      );
    const retention = api.get(AppConfigService).values.outbox.retentionHours;
    const oldDone = [await insert('DONE', retention + 1), await insert('DONE', retention + 48)];
    const kept = [await insert('DONE', retention - 1), await insert('FAILED', retention + 48), await insert('PARKED', retention + 48)];

    const { deleted } = await api.get(OutboxPurge).purge();
    expect(deleted).toBeGreaterThanOrEqual(2);
    expect(await db.query('SELECT id FROM outbox WHERE id IN (?)', [oldDone])).toEqual([]);
    expect((await db.query('SELECT id FROM outbox WHERE id IN (?) ORDER BY id', [kept])).map((r: { id: string }) => r.id)).toEqual(kept);
    expect(SCHEDULES).toContainEqual(expect.objectContaining({ queue: 'maintenance', name: 'outbox.purge' }));

    // Each batch reads the (status, finished_at) index: no table scan however large the outbox.
    const [purgePlan] = await db.query(
      `EXPLAIN DELETE FROM outbox WHERE status = 'DONE' AND finished_at < NOW(3) - INTERVAL 1 HOUR ORDER BY finished_at LIMIT 10`,
    );
    expect(purgePlan).toMatchObject({ type: 'range', key: 'idx_outbox_status_finished' });
  });

  it('serves the /metrics outbox figures from the status index, never a table scan', async () => {
    type Plan = Array<{ table: string | null; type: string; key: string | null; Extra: string }>;
    const plan = async (sql: string) => ((await db.query(`EXPLAIN ${sql}`)) as Plan).filter((p) => p.table === 'outbox');
    // Counts: each status's range of the (status, id) index, read alone (no row read).
    const counts = await plan(OUTBOX_STATS_QUERIES.counts);
    expect(counts).toHaveLength(5);
    for (const read of counts) {
      expect(read).toMatchObject({ type: 'ref', key: 'idx_outbox_status_id' });
      expect(read.Extra).toContain('Using index');
    }
    // The oldest pending row: the first entry of PENDING's range in id order, no sort.
    for (const read of await plan(OUTBOX_STATS_QUERIES.oldestPending)) {
      expect(read).toMatchObject({ type: 'ref', key: 'idx_outbox_status_id' });
      expect(read.Extra).not.toContain('filesort');
    }
  });

  it('never holds a transaction while Redis does not answer, and fails within its bound; the process still closes', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const dead = await startHttpApp('api', {
      REDIS_URL: `redis://127.0.0.1:${closedPort}/0`,
      OUTBOX_REDIS_TIMEOUT_MS: '1500',
      DATABASE_POOL_SIZE: '1',
    });
    try {
      const deadDb = dead.get(DataSource);
      const [{ id: threadId }] = await deadDb.query('SELECT CONNECTION_ID() AS id'); // its only connection
      const openTransactions = () => db.query('SELECT trx_id FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ?', [threadId]);

      const { outboxId } = await probes.start('redis-down', 'test');
      let settled = false;
      const relaying = dead
        .get(OutboxRelay)
        .relayBatch(500)
        .finally(() => (settled = true));
      relaying.catch(() => undefined);
      // Claimed and committed before Redis is called: the row is visible as ENQUEUED while the add waits.
      await eventually(async () => (await outboxRow(outboxId)).status === 'ENQUEUED' || settled);
      expect(settled).toBe(false);
      expect(await openTransactions()).toEqual([]);
      await expect(relaying).rejects.toThrow(/no answer from Redis/);
      expect((await outboxRow(outboxId)).status).toBe('PENDING'); // handed back to the next relay step
      expect(await openTransactions()).toEqual([]);

      // The sweeper too: its rows are claimed and committed, then Redis is asked, within the bound.
      await relayAll();
      expect((await outboxRow(outboxId)).status).toBe('ENQUEUED');
      const checkAt = async () => (await db.query('SELECT check_at FROM outbox WHERE id = ?', [outboxId]))[0].check_at.getTime();
      const before = await checkAt();
      let swept = false;
      const sweeping = dead
        .get(OutboxRelay)
        .sweep(0, 500)
        .finally(() => (swept = true));
      sweeping.catch(() => undefined);
      await eventually(async () => (await checkAt()) > before || swept); // claimed and committed
      expect(swept).toBe(false);
      expect(await openTransactions()).toEqual([]);
      await expect(sweeping).rejects.toThrow(/no answer from Redis/);
      expect(await openTransactions()).toEqual([]);
      expect((await outboxRow(outboxId)).status).toBe('ENQUEUED');
    } finally {
      await dead.close(); // a shutdown with Redis unreachable ends (the test's timeout bounds it)
    }
  });
});
